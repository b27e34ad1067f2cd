"""Meta webhook notifications → contacts, conversations, messages, statuses, senders and
templates. Idempotent: a redelivered message (same ``wamid``) changes nothing, and
statuses only move forward. Unknown fields and message types are kept, never refused.

Each message, status and change is checked before it is applied: one that is malformed is
kept as an ``IngestError`` (and counted) and the rest of its delivery is applied."""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import Counter
from sqlalchemy import (
    Insert,
    Select,
    Table,
    any_,
    bindparam,
    insert,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from runtime.db.base import as_utc
from runtime.db.config_cache import config_cache
from runtime.db.transaction_cache import transaction_cache
from runtime.db.upsert import inserting_ignoring_conflicts
from runtime.domain import assignment, consent, inbox, media, sender_health
from runtime.domain.phones import InvalidPhone, normalize_phone
from runtime.models import (
    Contact,
    Conversation,
    IngestError,
    MediaFile,
    Message,
    Sender,
    Template,
    Tenant,
)

KNOWN_TYPES = {
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
}
log = logging.getLogger(__name__)
INGEST_ERRORS = Counter(
    "scrm_ingest_errors", "Webhook items refused (kept in ingest_errors)", ["code"]
)
# A phone_number_quality_update event that flags or unflags the number: its quality and
# Meta's number status.
_FLAG_EVENTS = {"FLAGGED": ("RED", "FLAGGED"), "UNFLAGGED": ("GREEN", "CONNECTED")}
# account_update events that stop the account's outreach (runtime/domain/sender_health.py).
_RESTRICTING_EVENTS = {"ACCOUNT_RESTRICTION", "DISABLED_UPDATE"}
# Template events that put a template back in service; the others are its state as named.
_TEMPLATE_STATE_BY_EVENT = {"REINSTATED": "APPROVED", "UNARCHIVED": "APPROVED"}
_CHANGED_NUMBER = {"user_changed_number", "customer_changed_number"}
EXCERPT_CHARS = 1000

Json = dict[str, Any]


# Bounds on what one inbound message may store (and later send to every agent's socket):
# Meta's messages are a few levels deep and a few KB; anything past these is refused.
MAX_PAYLOAD_DEPTH = 32
MAX_PAYLOAD_BYTES = 64 * 1024


@dataclass
class IngestResult:
    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    ignored: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ItemProblem:
    """Why one item of a delivery cannot be applied."""

    code: str
    message: str


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests deeper than ``limit`` (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def payload_problem(payload: Json) -> str | None:
    """Why ``payload`` may not be stored (too deep, too big), or None."""
    if _depth_exceeds(payload, MAX_PAYLOAD_DEPTH):
        return "payload_too_deep"
    if len(json.dumps(payload, ensure_ascii=False).encode()) > MAX_PAYLOAD_BYTES:
        return "payload_too_large"
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def _moment(raw: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (TypeError, ValueError, OverflowError):
        return fallback


def message_text(message: Json) -> str:
    """What an agent reads in the list: the text, a caption, or a label (NULs dropped)."""
    return _label(message).replace("\x00", "")


def _label(message: Json) -> str:
    kind = message.get("type")
    content = _dict(message.get(kind)) if isinstance(kind, str) else {}
    if kind == "text" or kind == "system":
        return str(content.get("body", ""))
    if kind == "button":
        return str(content.get("text", ""))
    if kind == "interactive":
        reply = _dict(content.get("button_reply")) or _dict(content.get("list_reply"))
        flow = _dict(content.get("nfm_reply"))
        return str(reply.get("title") or flow.get("body") or "")
    if kind == "reaction":
        return str(content.get("emoji", ""))
    if kind == "location":
        return str(content.get("name") or content.get("address") or "")
    if kind == "contacts":
        cards = [
            _dict(_dict(card).get("name")).get("formatted_name")
            for card in _list(message.get("contacts"))  # Meta's one list-valued type
        ]
        return ", ".join(str(name) for name in cards if name)
    return str(content.get("caption", ""))


def message_problem(message: Any) -> ItemProblem | None:
    """Why an inbound message cannot be stored, or None."""
    if not isinstance(message, dict):
        return ItemProblem("malformed_message", "A message is not a JSON object.")
    if _text(message.get("id")) is None:
        return ItemProblem("missing_id", "The message has no id (wamid).")
    if _text(message.get("from")) is None and _text(message.get("from_user_id")) is None:
        return ItemProblem("missing_sender", "The message has neither from nor from_user_id.")
    if not isinstance(message.get("type"), str):
        return ItemProblem("invalid_type", "The message type is not a string.")
    if (problem := payload_problem(message)) is not None:
        return ItemProblem(problem, "The message is too deep or too big to store.")
    return None


def status_problem(status: Any) -> ItemProblem | None:
    """Why a status notification cannot be applied, or None."""
    if not isinstance(status, dict):
        return ItemProblem("malformed_status", "A status is not a JSON object.")
    if not isinstance(status.get("status"), str):
        return ItemProblem("invalid_status", "The status has no status string.")
    if _text(status.get("id")) is None and _text(status.get("biz_opaque_callback_data")) is None:
        return ItemProblem("missing_id", "The status names no message (id).")
    return None


def _excerpt(item: Any) -> str:
    try:
        text = json.dumps(item, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # e.g. nested too deep to encode
        text = repr(item)
    return text[:EXCERPT_CHARS]


async def _refuse(
    session: AsyncSession,
    result: IngestResult,
    tenant_id: uuid.UUID | None,
    where: str,
    item: Any,
    problem: ItemProblem,
    now: datetime,
) -> None:
    """Keep a refused item (for the tenant's admins), count it, and go on with the rest."""
    item_id = _text(_dict(item).get("id"))
    item_id = item_id[:200] if item_id else None
    session.add(
        IngestError(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            field=where[:64],
            item_id=item_id,
            code=problem.code,
            message=problem.message[:500],
            excerpt=_excerpt(item),
            created_at=now,
        )
    )
    INGEST_ERRORS.labels(problem.code).inc()
    log.warning("webhook %s %s refused: %s", where, item_id, problem.code)
    result.errors.append({"id": item_id or "", "code": problem.code})


@functools.lru_cache(maxsize=16384)
def _phone(wa_id: str | None, region: str) -> str | None:
    """The E.164 form of a WhatsApp id (digits kept if it does not parse); memoised: a
    round reads each customer's number twice, and customers write again."""
    if wa_id is None:
        return None
    try:
        return normalize_phone("+" + wa_id.lstrip("+"), region)
    except InvalidPhone:
        return "+" + re.sub(r"\D", "", wa_id)[:19]


@dataclass(frozen=True)
class Customer:
    """Who wrote: a phone (``from``), a business-scoped user id, or both."""

    phone: str | None
    user_id: str | None
    name: str

    def lookup_keys(self) -> list[tuple[str, str]]:
        """How a contact is found: ("phone", …) and/or ("user", …)."""
        return [(kind, value) for kind, value in (("phone", self.phone), ("user", self.user_id))
                if value is not None]  # fmt: skip


def _customer(message: Json, contacts: list[Json], region: str) -> Customer:
    wa_id, user_id = _text(message.get("from")), _text(message.get("from_user_id"))
    card = next(
        (
            c
            for c in contacts
            if (wa_id and c.get("wa_id") == wa_id) or (user_id and c.get("user_id") == user_id)
        ),
        {},
    )
    user_id = user_id or _text(card.get("user_id"))
    name = str(_dict(card.get("profile")).get("name", "")).replace("\x00", "")
    return Customer(_phone(wa_id, region), user_id[:128] if user_id else None, name)


@dataclass
class _RoundIndex:
    """What a round's inbound messages look up, read up front in two statements (see
    :func:`prepare_round`) and kept current as the round stores rows, so that applying a
    message issues no query; and the rows the round creates, written by
    :func:`finish_round` in one statement per table."""

    wamids: set[str] = field(default_factory=set)
    contacts: dict[tuple[uuid.UUID, str, str], Contact] = field(default_factory=dict)
    conversations: dict[tuple[uuid.UUID, uuid.UUID], inbox.AnyConversation] = field(
        default_factory=dict
    )
    locked: set[uuid.UUID] = field(default_factory=set)  # conversations read FOR UPDATE
    # the messages the round's statuses name, by wamid and by id (biz_opaque_callback_data)
    sent: dict[str | uuid.UUID, Message] = field(default_factory=dict)
    # why each inbound message (by id()) cannot be stored, checked once per round
    problems: dict[int, ItemProblem | None] = field(default_factory=dict)
    customers: dict[int, Customer] = field(default_factory=dict)  # who wrote each, by id()
    # written by finish_round: conversations created and messages stored in this round
    new_conversations: dict[uuid.UUID, inbox.NewConversation] = field(default_factory=dict)
    messages: list[inbox.NewMessage] = field(default_factory=list)
    files: list[MediaFile] = field(default_factory=list)  # of the media messages

    def numbered_here(self, conversation: inbox.AnyConversation) -> bool:
        """Whether the round numbers ``conversation``'s messages in memory (locked or new)."""
        return conversation.id in self.locked or conversation.id in self.new_conversations

    def customer(self, message: Json, contacts: list[Json], region: str) -> Customer:
        key = id(message)
        if key not in self.customers:
            self.customers[key] = _customer(message, contacts, region)
        return self.customers[key]

    def problem(self, message: Any) -> ItemProblem | None:
        key = id(message)
        if key not in self.problems:
            self.problems[key] = message_problem(message)
        return self.problems[key]

    def add_contact(self, contact: Contact) -> None:
        if contact.phone is not None:
            self.contacts[(contact.tenant_id, "phone", contact.phone)] = contact
        if contact.wa_user_id is not None:
            self.contacts[(contact.tenant_id, "user", contact.wa_user_id)] = contact

    def known(self, tenant_id: uuid.UUID, customer: Customer) -> list[Contact]:
        keys = customer.lookup_keys()
        found = [self.contacts.get((tenant_id, kind, value)) for kind, value in keys]
        return [c for c in dict.fromkeys(found) if c is not None]


_ROUND = "ingest.round"


def _round_index(session: AsyncSession) -> _RoundIndex | None:
    return transaction_cache(session, _ROUND).get("index")


@dataclass
class _RoundKeys:
    """What the items of a round name: inbound wamids and customers, status targets."""

    wamids: set[str] = field(default_factory=set)
    customers: list[tuple[uuid.UUID, Customer, str]] = field(default_factory=list)  # + wamid
    status_wamids: set[str] = field(default_factory=set)
    status_ids: set[uuid.UUID] = field(default_factory=set)

    def add_status(self, status: Any) -> None:
        wamid, callback = (
            _text(_dict(status).get("id")),
            _dict(status).get("biz_opaque_callback_data"),
        )
        if wamid is not None:
            self.status_wamids.add(wamid)
        if (message_id := _uuid(callback)) is not None:
            self.status_ids.add(message_id)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _round_keys(
    session: AsyncSession, payloads: list[Json], index: _RoundIndex
) -> _RoundKeys:
    """What the ``messages`` changes of ``payloads`` name (customers of storable messages
    only)."""
    keys = _RoundKeys()
    for payload in payloads:
        for entry in _list(_dict(payload).get("entry")):
            for change in _list(_dict(entry).get("changes")):
                value = _dict(_dict(change).get("value"))
                if _dict(change).get("field") != "messages":
                    continue
                for status in _list(value.get("statuses")):
                    keys.add_status(status)
                if not value.get("messages"):
                    continue
                number_id = _dict(value.get("metadata")).get("phone_number_id")
                sender = await _number(session, str(number_id))
                contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
                for message in _list(value.get("messages")):
                    if index.problem(message) is not None:
                        continue
                    keys.wamids.add(str(message["id"]))
                    if sender is not None:
                        customer = index.customer(message, contacts, sender.region)
                        keys.customers.append((sender.tenant_id, customer, str(message["id"])))
    return keys


async def _read_status_targets(session: AsyncSession, keys: _RoundKeys, index: _RoundIndex) -> None:
    """The messages the round's statuses name, and their conversations (into the identity
    map), in two statements."""
    if not keys.status_wamids and not keys.status_ids:
        return
    named = {"wamids": list(keys.status_wamids), "ids": list(keys.status_ids)}
    messages = list(await session.scalars(_statements(session).status_targets, named))
    for message in messages:
        index.sent[message.id] = message
        if message.wamid is not None:
            index.sent[message.wamid] = message
    talks = {m.conversation_id for m in messages} - {c.id for c in index.conversations.values()}
    if talks:
        await session.scalars(_statements(session).conversations_by_id, {"ids": list(talks)})


@dataclass(frozen=True, slots=True)
class _RoundStatements:
    """A round's statements, built once per database: each round then costs SQLAlchemy a
    cache look-up only (list parameters — arrays or expanding — keep the cache key fixed).
    The inserts are Core: the rows are plain dicts, no ORM bulk machinery."""

    # the customers' contacts and the wamids already stored, in one statement: rows of
    # (contact, None) and (None, wamid)
    contacts_and_stored: Select[Contact | None, str | None]
    conversations_locked: Select[Conversation]
    conversations_by_id: Select[Conversation]
    status_targets: Select[Message]
    insert_contacts: Any  # ORM: returns the stored contacts
    insert_files: Insert


def _statements(session: AsyncSession) -> _RoundStatements:
    return _statements_for(session.get_bind().dialect.name)


def _among(dialect: str, column: Any, name: str) -> Any:
    """``column`` is one of the values of list parameter ``name``: ``= ANY(array)`` on
    PostgreSQL (one SQL text, so one prepared statement, whatever the list's length), an
    expanding IN on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


@functools.cache
def _statements_for(dialect: str) -> _RoundStatements:
    listed = functools.partial(_among, dialect)
    messages, contacts = cast(Table, Message.__table__), cast(Table, Contact.__table__)
    found = union_all(
        select(*contacts.c, null().label("stored_wamid")).where(
            listed(contacts.c.tenant_id, "tenants"),
            or_(listed(contacts.c.phone, "phones"), listed(contacts.c.wa_user_id, "users")),
        ),
        select(*(null().label(c.name) for c in contacts.c), messages.c.wamid).where(
            listed(messages.c.wamid, "wamids")
        ),
    ).subquery("found")
    return _RoundStatements(
        contacts_and_stored=select(aliased(Contact, found), found.c.stored_wamid),
        conversations_locked=select(Conversation)
        .where(listed(Conversation.contact_id, "contacts"))
        .order_by(Conversation.id)
        .with_for_update(),
        conversations_by_id=select(Conversation).where(listed(Conversation.id, "ids")),
        # Locked up front in id order, the order the send worker writes messages in: the
        # round's later updates (several flushes) then take no message lock out of order.
        status_targets=select(Message)
        .where(or_(listed(Message.wamid, "wamids"), listed(Message.id, "ids")))
        .order_by(Message.id)
        .with_for_update(),
        insert_contacts=inserting_ignoring_conflicts(dialect, Contact).returning(Contact),
        insert_files=insert(cast(Table, MediaFile.__table__)),
    )


def _contact_keys(customers: list[tuple[uuid.UUID, Customer, str]]) -> dict[str, list[Any]]:
    """The parameters finding the contacts of ``customers``: tenants, phones, user ids."""
    return {
        "tenants": list({tenant_id for tenant_id, _, _ in customers}),
        "phones": list({c.phone for _, c, _ in customers if c.phone is not None}),
        "users": list({c.user_id for _, c, _ in customers if c.user_id is not None}),
    }


async def prepare_round(session: AsyncSession, payloads: list[Json]) -> None:
    """Read up front what the inbound messages of ``payloads`` will look up (stored wamids,
    their contacts and those contacts' conversations, locked so that their messages are
    numbered in memory), and insert the contacts that are new in one statement, for
    :func:`ingest` calls in this transaction, then :func:`finish_round`. Only for a
    transaction rolled back whole if any of them fails: the index does not follow
    savepoint rollbacks."""
    index, statements = _RoundIndex(), _statements(session)
    keys = await _round_keys(session, payloads, index)
    if keys.wamids:  # the contacts of every customer, even of a redelivery (read, not used)
        named = {"wamids": list(keys.wamids), **_contact_keys(keys.customers)}
        for contact, stored in await session.execute(statements.contacts_and_stored, named):
            if contact is not None:
                index.add_contact(contact)
            elif stored is not None:
                index.wamids.add(stored)
    customers = [(t, c) for t, c, wamid in keys.customers if wamid not in index.wamids]
    contact_ids = list({c.id for c in index.contacts.values()})
    if contact_ids:
        talks = await session.scalars(statements.conversations_locked, {"contacts": contact_ids})
        for talk in talks:
            index.conversations[(talk.sender_id, talk.contact_id)] = talk
            index.locked.add(talk.id)
    await _insert_new_contacts(session, customers, index)
    await _read_status_targets(session, keys, index)
    transaction_cache(session, _ROUND)["index"] = index


class RoundConflict(Exception):
    """A row the round meant to insert was stored meanwhile by another transaction: redo
    the round one webhook at a time."""


async def _insert_new_contacts(
    session: AsyncSession, customers: list[tuple[uuid.UUID, Customer]], index: _RoundIndex
) -> None:
    """The round's customers no contact knows, inserted in one statement (the first card of
    each wins, as if created message by message) and added to the index."""
    rows: list[Json] = []
    taken: set[tuple[uuid.UUID, str, str]] = set()  # keys of the rows above
    for tenant_id, customer in customers:
        keys = {(tenant_id, kind, value) for kind, value in customer.lookup_keys()}
        if index.known(tenant_id, customer) or keys & taken:
            continue
        taken |= keys
        rows.append({"id": uuid.uuid4(), "tenant_id": tenant_id, "phone": customer.phone,
                     "wa_user_id": customer.user_id, "name": customer.name[:200]})  # fmt: skip
    if not rows:
        return
    stored = list(await session.scalars(_statements(session).insert_contacts, rows))
    if len(stored) != len(rows):
        raise RoundConflict("a new customer's contact was stored meanwhile")
    for contact in stored:
        index.add_contact(contact)


async def finish_round(session: AsyncSession) -> None:
    """Write what the round's :func:`ingest` calls stored set-wise: the new conversations and
    the messages (``INSERT … ON CONFLICT (wamid) DO NOTHING``) in one statement on
    PostgreSQL, one each on SQLite. Raises :class:`RoundConflict` if a message was stored
    meanwhile (its events are recorded)."""
    index = _round_index(session)
    if index is None:
        return
    connection = await session.connection()
    if index.messages:  # a new conversation comes with its first message
        conversations = index.new_conversations.values()
        stored = await inbox.insert_new(connection, conversations, index.messages)
        if stored != len(index.messages):
            raise RoundConflict("an inbound message was stored meanwhile")
    if index.files:
        files = [media.file_row(f) for f in index.files]
        await connection.execute(_statements(session).insert_files, files)
    index.new_conversations, index.messages, index.files = {}, [], []


async def _contacts_of(
    session: AsyncSession, tenant_id: uuid.UUID, customer: Customer
) -> list[Contact]:
    keys = []
    if customer.phone is not None:
        keys.append(Contact.phone == customer.phone)
    if customer.user_id is not None:
        keys.append(Contact.wa_user_id == customer.user_id)
    query = select(Contact).where(Contact.tenant_id == tenant_id, or_(*keys))
    return list((await session.execute(query)).scalars())


async def _contact(session: AsyncSession, tenant_id: uuid.UUID, customer: Customer) -> Contact:
    """The tenant's contact for ``customer``: by phone first, else by user id; what it
    lacked (phone, user id, name) is filled in. Created if neither is known."""
    index = _round_index(session)
    found = (
        index.known(tenant_id, customer)
        if index is not None
        else await _contacts_of(session, tenant_id, customer)
    )
    by_phone = next((c for c in found if c.phone and c.phone == customer.phone), None)
    by_user = next((c for c in found if c.wa_user_id and c.wa_user_id == customer.user_id), None)
    contact = by_phone or by_user
    if contact is None:
        contact = Contact(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            phone=customer.phone,
            wa_user_id=customer.user_id,
            name=customer.name[:200],
        )
        session.add(contact)  # a concurrent twin fails the flush; the receiver retries
        return contact
    if contact.phone is None:
        contact.phone = customer.phone  # by_phone is None here: the phone is free
    if contact.wa_user_id is None and by_user is None:
        contact.wa_user_id = customer.user_id
    if customer.name and not contact.name:
        contact.name = customer.name[:200]
    return contact


@dataclass(frozen=True, slots=True)
class _Number:
    """What applying a ``messages`` change needs of the business number it names."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    region: str


async def _changed_number(
    session: AsyncSession, contact: Contact, message: Json, region: str
) -> None:
    """Meta's "customer changed number" system message: the contact takes the new number,
    unless another contact of the tenant already has it."""
    system = _dict(message.get("system"))
    if system.get("type") not in _CHANGED_NUMBER:
        return
    new_phone = _phone(_text(system.get("wa_id")) or _text(system.get("new_wa_id")), region)
    if new_phone is None or new_phone == contact.phone:
        return
    taken = await session.scalar(
        select(Contact.id).where(Contact.tenant_id == contact.tenant_id, Contact.phone == new_phone)
    )
    if taken is None:
        contact.phone = new_phone
    else:
        log.warning("contact %s changed number to one another contact has", contact.id)


def _first_error(item: Json) -> tuple[int | None, str | None]:
    """Meta's first ``errors[]`` entry as (code, human text)."""
    errors = _list(item.get("errors"))
    error = _dict(errors[0]) if errors else {}
    if not error:
        return None, None
    code = error.get("code") if isinstance(error.get("code"), int) else None
    details = _dict(error.get("error_data")).get("details")
    return code, str(details or error.get("title") or error.get("message") or "")[:500]


async def _stored(session: AsyncSession, index: _RoundIndex | None, wamid: str) -> bool:
    """Whether a message with ``wamid`` is stored (or stored earlier in this round)."""
    if index is not None:
        return wamid in index.wamids
    return await session.scalar(select(Message.id).where(Message.wamid == wamid)) is not None


async def _conversation(
    session: AsyncSession,
    index: _RoundIndex | None,
    sender: _Number,
    contact: Contact,
    at: datetime,
) -> inbox.AnyConversation:
    """The conversation of (sender, contact); in a round, one created is kept in the index
    (a plain row) and inserted by :func:`finish_round`."""
    if index is None:
        return await inbox.conversation_for(session, sender.tenant_id, sender.id, contact, at)
    conversation = index.conversations.get((sender.id, contact.id))
    if conversation is None:
        new = inbox.NewConversation.opened(sender.tenant_id, sender.id, contact, at)
        index.conversations[(sender.id, contact.id)] = index.new_conversations[new.id] = new
        conversation = new
    index.add_contact(contact)
    return conversation


async def _inbound(
    session: AsyncSession,
    sender: _Number,
    region: str,
    message: Json,
    contacts: list[Json],
    now: datetime,
    result: IngestResult,
) -> None:
    wamid = str(message["id"])
    index = _round_index(session)
    if message["type"] == "reaction":
        await _reaction(session, index, sender, message, result)
        return
    if await _stored(session, index, wamid):
        result.duplicates += 1
        return
    customer = (
        index.customer(message, contacts, region)
        if index is not None
        else _customer(message, contacts, region)
    )
    contact = await _contact(session, sender.tenant_id, customer)
    await _changed_number(session, contact, message, region)
    at = _moment(message.get("timestamp"), now)
    await assignment.route_inbound(session, contact, sender.id)
    conversation = await _conversation(session, index, sender, contact, at)
    kind = message["type"]
    error_code, error_message = _first_error(message)
    stored = inbox.NewMessage(
        id=uuid.uuid4(),  # known before the INSERT: events are recorded without one
        tenant_id=sender.tenant_id,
        conversation_id=conversation.id,
        conversation_seq=await inbox.next_seq(
            session, conversation, locked=index is not None and index.numbered_here(conversation)
        ),
        wamid=wamid,
        direction="inbound",
        type=kind if kind in KNOWN_TYPES else "unsupported",
        body=message_text(message)[:4096],
        payload=message,
        status="received",
        error_code=error_code,
        error_message=error_message,
        created_at=at,
    )
    file = media.inbound_file(message, sender.tenant_id, sender.id, stored.id, now)
    if index is not None:
        index.wamids.add(wamid)
        index.messages.append(stored)  # inserted by finish_round
        index.files.extend([file] if file is not None else [])
    else:
        session.add(Message(**stored.row()))
        if file is not None:
            await session.flush()  # the message first: the file refers to it
            session.add(file)
    if conversation.last_inbound_at is None or as_utc(conversation.last_inbound_at) < at:
        conversation.last_inbound_at = at
    if conversation.last_message_at is None or as_utc(conversation.last_message_at) <= at:
        conversation.last_message_at = at
        conversation.last_message_preview = inbox.preview(stored)
    conversation.unread_count += 1
    if referral := _dict(message.get("referral")):
        conversation.referral = referral
    if conversation.status in ("resolved", "snoozed"):
        conversation.status, conversation.snoozed_until = "open", None
    await inbox.emit_message(session, conversation, stored, "message.created", file)
    await inbox.emit_conversation(session, conversation, contact, now)
    await consent.apply_inbound(session, contact, message, at)
    result.messages += 1


async def _reaction(
    session: AsyncSession,
    index: _RoundIndex | None,
    sender: _Number,
    message: Json,
    result: IngestResult,
) -> None:
    """A customer's reaction changes the message it reacts to (``reactions.customer``; an
    empty emoji removes it) and is told as that message's ``message.updated``; it is never a
    message of its own. A reaction to a message not stored here is ignored. Redelivery sets
    the same emoji again."""
    reaction = _dict(message.get("reaction"))
    target = await _reaction_target(session, index, sender, _text(reaction.get("message_id")))
    if target is None:
        result.ignored += 1
        return
    reactions = dict(target.reactions or {})
    if emoji := _text(reaction.get("emoji")):
        reactions["customer"] = emoji[:32]
    else:
        reactions.pop("customer", None)
    target.reactions = reactions or None
    conversation: inbox.AnyConversation | None = (
        index.new_conversations.get(target.conversation_id) if index is not None else None
    ) or await session.get(Conversation, target.conversation_id)
    assert conversation is not None
    await inbox.emit_message(session, conversation, target, "message.updated")
    result.messages += 1


async def _reaction_target(
    session: AsyncSession, index: _RoundIndex | None, sender: _Number, wamid: str | None
) -> Message | inbox.NewMessage | None:
    """The message of the sender's tenant a reaction names: stored earlier in this round,
    or in the database."""
    if wamid is None:
        return None
    if index is not None:
        for stored in index.messages:
            if stored.wamid == wamid and stored.tenant_id == sender.tenant_id:
                return stored
    return await session.scalar(
        select(Message).where(Message.wamid == wamid, Message.tenant_id == sender.tenant_id)
    )


def _pricing(status: Json) -> Json | None:
    """Meta's per-message pricing (category, type, billable, model), if the status has it."""
    pricing = _dict(status.get("pricing"))
    kept = {
        key: pricing[key]
        for key in ("category", "type", "billable", "pricing_model")
        if isinstance(pricing.get(key), str | bool)
    }
    return kept or None


async def _status_target(
    session: AsyncSession, wamid: str | None, message_id: uuid.UUID | None
) -> Message | None:
    """The message a status names: by wamid, else by id; from the round's index if any."""
    index = _round_index(session)
    if index is not None:
        return (index.sent.get(wamid) if wamid else None) or (
            index.sent.get(message_id) if message_id else None
        )
    message = None
    if wamid is not None:
        message = await session.scalar(select(Message).where(Message.wamid == wamid))
    if message is None and message_id is not None:
        message = await session.get(Message, message_id)
    return message


async def _status(
    session: AsyncSession, sender: _Number, status: Json, result: IngestResult
) -> None:
    wamid, new = _text(status.get("id")), str(status["status"])
    # by id (biz_opaque_callback_data) when the send's response (the wamid) is not stored yet
    message = await _status_target(session, wamid, _uuid(status.get("biz_opaque_callback_data")))
    if message is None or message.tenant_id != sender.tenant_id or message.direction != "outbound":
        result.ignored += 1
        return
    pricing = _pricing(status)  # kept even from a status that arrives after a later one
    if pricing is not None and pricing != message.pricing:
        message.pricing = pricing
    if not inbox.status_advances(message.status, new):
        result.ignored += 1
        return
    inbox.stamp_status(message, new, _moment(status.get("timestamp"), as_utc(message.created_at)))
    if message.wamid is None and wamid is not None:
        message.wamid = wamid
        if (index := _round_index(session)) is not None:
            index.sent[wamid] = message
    error_code, error_message = _first_error(status)
    if error_message is not None:
        message.error_code, message.error_message = error_code, error_message
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None
    await inbox.emit_message(session, conversation, message, "message.status")
    if new == "failed":
        await inbox.reaction_failed(session, conversation, message)
    await consent.apply_status_error(session, conversation, message, error_code)
    result.statuses += 1


async def _number(session: AsyncSession, phone_number_id: str) -> _Number | None:
    """The sender holding ``phone_number_id``; kept across the inbound processor's rounds
    until a sender's number or tenant, or its tenant's region, changes
    (runtime/db/config_cache.py)."""
    cache: dict[str, _Number] = config_cache(session, "ingest.numbers")
    if phone_number_id not in cache:
        row = (
            await session.execute(
                select(Sender.id, Sender.tenant_id, Tenant.default_region)
                .join(Tenant, Tenant.id == Sender.tenant_id)
                .where(Sender.phone_number_id == phone_number_id)
            )
        ).one_or_none()
        if row is None:
            return None  # not kept: the number may be added later in this session
        cache[phone_number_id] = _Number(row[0], row[1], row[2] or "ID")
    return cache[phone_number_id]


async def _messages_change(
    session: AsyncSession, value: Json, now: datetime, result: IngestResult
) -> None:
    phone_number_id = _dict(value.get("metadata")).get("phone_number_id")
    sender = await _number(session, str(phone_number_id))
    if sender is None:
        result.ignored += 1
        return
    region = sender.region
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
    index = _round_index(session)
    for message in _list(value.get("messages")):
        problem = index.problem(message) if index is not None else message_problem(message)
        if problem is not None:
            await _refuse(session, result, sender.tenant_id, "messages", message, problem, now)
        else:
            await _inbound(session, sender, region, message, contacts, now, result)
    for status in _list(value.get("statuses")):
        if (problem := status_problem(status)) is not None:
            await _refuse(session, result, sender.tenant_id, "statuses", status, problem, now)
        else:
            await _status(session, sender, status, result)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


async def _waba_senders(session: AsyncSession, waba_id: str) -> list[Sender]:
    """In id order: sender health locks them one by one (the same order everywhere)."""
    rows = await session.execute(
        select(Sender).where(Sender.waba_id == waba_id).order_by(Sender.id)
    )
    return list(rows.scalars())


def messaging_limit(value: Json) -> str | None:
    """The number's messaging limit: ``max_daily_conversations_per_business`` (current
    shape), else ``current_limit`` (deprecated, removed by Meta in 2026)."""
    for key in ("max_daily_conversations_per_business", "current_limit"):
        if (tier := _text(value.get(key))) is not None:
            return tier[:20]
    return None


async def _quality_change(
    session: AsyncSession, waba_id: str, value: Json, now: datetime, result: IngestResult
) -> None:
    display = _digits(str(value.get("display_phone_number", "")))
    senders = await _waba_senders(session, waba_id)
    matched = [s for s in senders if display and _digits(s.display_number) == display]
    event = _text(value.get("event"))
    quality, number_status = _FLAG_EVENTS.get(event or "", (None, None))
    seen = sender_health.Observation(
        quality_rating=quality,
        messaging_limit_tier=messaging_limit(value),
        number_status=number_status,
    )
    for sender in matched:
        await sender_health.observe(session, sender, seen, "webhook", now)
        await sender_health.emit_sender(session, sender, event)
    result.statuses += len(matched)
    result.ignored += 0 if matched else 1


async def _account_update(
    session: AsyncSession, waba_id: str, value: Json, now: datetime, result: IngestResult
) -> None:
    """Meta's ``account_update`` (restrictions, violations, bans, …), kept on every sender
    of the WABA with the moment it arrived; a restriction or ban marks them restricted."""
    senders = await _waba_senders(session, waba_id)
    event = _text(value.get("event"))
    for sender in senders:
        if event in _RESTRICTING_EVENTS:
            detail = json.dumps(value.get("restriction_info") or value.get("ban_info") or "")
            await sender_health.restricted_by_account(session, sender, event, detail, now)
        sender.account_update = {**value, "received_at": now.isoformat()}
        await sender_health.emit_sender(session, sender, event)
    result.statuses += len(senders)
    result.ignored += 0 if senders else 1


async def _templates_named(session: AsyncSession, waba_id: str, value: Json) -> list[Template]:
    return list(
        (
            await session.execute(
                select(Template).where(
                    Template.waba_id == waba_id,
                    Template.meta_id == str(value.get("message_template_id")),
                )
            )
        ).scalars()
    )


async def _request_template_sync(session: AsyncSession, waba_id: str, now: datetime) -> None:
    """Flag the WABA's senders: the next template sync (POST /api/templates/sync) mirrors
    what this webhook named. Meta is never called from inside the ingest transaction."""
    for sender in await _waba_senders(session, waba_id):
        sender.templates_sync_requested_at = sender.templates_sync_requested_at or now


def _apply_template_change(template: Template, field_name: str, value: Json) -> None:
    if field_name == "message_template_status_update":
        event = str(value.get("event", template.status))
        template.status = _TEMPLATE_STATE_BY_EVENT.get(event, event)[:20]
    elif field_name == "template_category_update":
        category = _text(value.get("new_category")) or _text(value.get("correct_category"))
        template.category = (category or template.category)[:20]
    else:  # message_template_quality_update
        score = _text(value.get("new_quality_score"))
        template.quality_score = score[:20] if score else template.quality_score


async def _template_change(
    session: AsyncSession,
    waba_id: str,
    field_name: str,
    value: Json,
    now: datetime,
    result: IngestResult,
) -> None:
    templates = await _templates_named(session, waba_id, value)
    for template in templates:
        _apply_template_change(template, field_name, value)
    if not templates:
        await _request_template_sync(session, waba_id, now)
    result.statuses += len(templates)
    result.ignored += 0 if templates else 1


_TEMPLATE_FIELDS = {
    "message_template_status_update",
    "template_category_update",
    "message_template_quality_update",
}


async def _tenant_of_waba(session: AsyncSession, waba_id: str) -> uuid.UUID | None:
    return await session.scalar(select(Sender.tenant_id).where(Sender.waba_id == waba_id).limit(1))


async def _change(
    session: AsyncSession, waba_id: str, change: Any, now: datetime, result: IngestResult
) -> None:
    field_name, value = _dict(change).get("field"), _dict(change).get("value")
    if not isinstance(value, dict) or not isinstance(field_name, str):
        problem = ItemProblem("malformed_change", "A change has no field name or no value.")
        tenant_id = await _tenant_of_waba(session, waba_id)
        await _refuse(session, result, tenant_id, "changes", change, problem, now)
    elif field_name == "messages":
        await _messages_change(session, value, now, result)
    elif field_name == "phone_number_quality_update":
        await _quality_change(session, waba_id, value, now, result)
    elif field_name == "account_update":
        await _account_update(session, waba_id, value, now, result)
    elif field_name in _TEMPLATE_FIELDS:
        await _template_change(session, waba_id, field_name, value, now, result)
    else:
        result.ignored += 1


async def ingest(session: AsyncSession, payload: Json, now: datetime) -> IngestResult:
    """Apply one webhook notification (any number of entries and changes). Malformed items
    are refused one by one (``result.errors``, table ``ingest_errors``); never raises for
    bad input."""
    result = IngestResult()
    for entry in _list(payload.get("entry")):
        if not isinstance(entry, dict):
            problem = ItemProblem("malformed_entry", "An entry is not a JSON object.")
            await _refuse(session, result, None, "entry", entry, problem, now)
            continue
        waba_id = str(entry.get("id", ""))
        for change in _list(entry.get("changes")):
            await _change(session, waba_id, change, now, result)
    return result
