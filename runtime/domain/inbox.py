"""Conversations and messages: the 24-hour window, monotonic delivery states, and the
events that tell the agents concerned about every change."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, TextClause, insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from runtime.db.arrays import ArrayInsert
from runtime.db.base import as_utc
from runtime.db.upsert import inserting_ignoring_conflicts
from runtime.domain import reactions
from runtime.domain.events import record_event
from runtime.domain.media import media_json
from runtime.domain.visibility import conversation_audience
from runtime.models import Contact, Conversation, MediaFile, Message, SendQueueItem
from runtime.whatsapp.error_codes import advice_for

SERVICE_WINDOW = timedelta(hours=24)
# Outbound states only move forward; ``failed`` may replace any state but ``read``.
# ``queued`` waits in the send queue; ``unknown`` was maybe sent (Meta's answer was lost):
# a status webhook (matched by ``biz_opaque_callback_data``) resolves it either way.
# ``pending`` is what rows stored before the send queue carry.
_RANK = {"pending": 0, "queued": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3}


STATUS_TIMES = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}


def stamp_status(message: Message, status: str, at: datetime) -> None:
    """``message`` reached ``status`` at ``at`` (:func:`status_advances` allowed it); the
    earlier states it implies are stamped at the same moment if they never came."""
    message.status, message.status_updated_at = status, at
    for reached, column in STATUS_TIMES.items():
        if _RANK[reached] <= _RANK.get(status, -1) and getattr(message, column) is None:
            setattr(message, column, at)


def window_expires_at(conversation: AnyConversation) -> datetime | None:
    if conversation.last_inbound_at is None:
        return None
    return as_utc(conversation.last_inbound_at) + SERVICE_WINDOW


def window_open(conversation: AnyConversation, now: datetime) -> bool:
    expires = window_expires_at(conversation)
    return expires is not None and now < expires


def status_advances(current: str, new: str) -> bool:
    """Whether a delivery status ``new`` may replace ``current`` (webhooks come out of order)."""
    if new == "failed":
        return current not in ("read", "failed")
    if current == "failed" or new not in _RANK:
        return False
    return _RANK[new] > _RANK.get(current, -1)


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def conversation_json(
    conversation: AnyConversation, contact: Contact, now: datetime
) -> dict[str, Any]:
    expires = window_expires_at(conversation)
    return {
        "id": str(conversation.id),
        "sender_id": str(conversation.sender_id),
        "contact": {
            "id": str(contact.id),
            "name": contact.name,
            "phone": contact.phone,
            "wa_user_id": contact.wa_user_id,
        },
        "status": conversation.status,
        "assigned_agent_id": _str(conversation.assigned_agent_id),
        "assigned_team_id": _str(conversation.assigned_team_id),
        "unread_count": conversation.unread_count,
        "last_message_at": _iso(conversation.last_message_at),
        "last_message_preview": conversation.last_message_preview,
        "window_open": window_open(conversation, now),
        "window_expires_at": _iso(expires),
        "snoozed_until": _iso(conversation.snoozed_until),
        "created_at": _iso(conversation.created_at),
        "referral": conversation.referral,
    }


@dataclass(slots=True)
class NewMessage:
    """A message stored set-wise (one INSERT for a round's messages, no ORM object): the
    row to insert, read like a :class:`Message` by :func:`message_json` and :func:`preview`."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    conversation_seq: int
    wamid: str | None
    direction: str
    type: str
    body: str
    payload: dict[str, Any]
    status: str
    error_code: int | None
    error_message: str | None
    created_at: datetime
    sent_by_agent_id: uuid.UUID | None = None
    pricing: dict[str, Any] | None = None
    not_confirmed_at: datetime | None = None
    resend_of_id: uuid.UUID | None = None
    reactions: dict[str, str] | None = None
    idempotency_key: str | None = None

    def row(self) -> dict[str, Any]:
        """The columns (shallow: the payload is not copied)."""
        return {name: getattr(self, name) for name in _NEW_MESSAGE_FIELDS}


_NEW_MESSAGE_FIELDS = [f.name for f in fields(NewMessage)]


def context_wamid(message: Message | NewMessage) -> str | None:
    """The wamid of the message this one replies to (Meta's ``context``), if any."""
    context = message.payload.get("context") if isinstance(message.payload, dict) else None
    if not isinstance(context, dict):
        return None
    wamid = context.get("id") or context.get("message_id")  # inbound | outbound
    return wamid if isinstance(wamid, str) else None


def quote_json(message: Message) -> dict[str, Any]:
    """What a reply shows of the message it quotes."""
    return {
        "id": str(message.id),
        "wamid": message.wamid,
        "direction": message.direction,
        "type": message.type,
        "body": message.body[:200],
    }


async def quotes_of(
    session: AsyncSession, conversation: Conversation, messages: list[Message]
) -> dict[str, dict[str, Any]]:
    """The quoted messages of the replies among ``messages``, by wamid (one statement; only
    messages of the same conversation are quoted)."""
    wamids = {w for m in messages if (w := context_wamid(m)) is not None}
    if not wamids:
        return {}
    found = await session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.wamid.in_(wamids))
    )
    return {m.wamid: quote_json(m) for m in found if m.wamid is not None}


def message_json(
    message: Message | NewMessage,
    queued: SendQueueItem | None = None,
    quotes: dict[str, dict[str, Any]] | None = None,
    file: MediaFile | None = None,
) -> dict[str, Any]:
    """The message as the API and events show it; ``queued``: its send-queue row, when it
    waits (then ``queue`` tells until when and why); ``quotes``: the quoted messages by
    wamid (a reply whose quote is not given names only its wamid); ``file``: its media
    file, if any."""
    replied = context_wamid(message)
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "wamid": message.wamid,
        "direction": message.direction,
        "type": message.type,
        "body": message.body,
        "payload": message.payload,
        "status": message.status,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "sent_by_agent_id": _str(message.sent_by_agent_id),
        "created_at": _iso(message.created_at),
        "conversation_seq": message.conversation_seq,
        "pricing": message.pricing,
        "error_advice": advice_for(message.error_code),
        "not_confirmed": message.not_confirmed_at is not None and message.status == "unknown",
        "resend_of_id": _str(message.resend_of_id),
        "queue": _queue_json(queued) if queued is not None and queued.state == "queued" else None,
        "reactions": reactions.shown(message.reactions),
        "reaction_refused": reactions.refusal(message.reactions),
        "reply_to": (quotes or {}).get(replied, {"wamid": replied}) if replied else None,
        "media": media_json(file),
    }


def _queue_json(queued: SendQueueItem) -> dict[str, Any]:
    return {"not_before": _iso(queued.not_before), "reason": queued.wait_reason}


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


async def next_seq(
    session: AsyncSession, conversation: AnyConversation, *, locked: bool = False
) -> int:
    """The next ``conversation_seq`` of ``conversation``: one atomic increment of its
    counter, whose row lock holds concurrent writers of the same conversation until commit,
    so numbers follow the order messages were stored in (inbound and outbound alike).
    A conversation not inserted yet, or ``locked`` (read ``FOR UPDATE`` in this
    transaction), is numbered in memory: nobody else can number it meanwhile."""
    if locked or isinstance(conversation, NewConversation) or inspect(conversation).pending:
        conversation.message_seq = (conversation.message_seq or 0) + 1
        return conversation.message_seq
    await session.flush()  # a conversation created in this transaction must exist first
    seq = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(message_seq=Conversation.message_seq + 1)
        .returning(Conversation.message_seq)
        .execution_options(synchronize_session=False)
    )
    assert seq is not None
    set_committed_value(conversation, "message_seq", seq)
    return int(seq)


def preview(message: Message | NewMessage) -> str:
    text = message.body or f"[{message.type}]"
    return text[:200]


async def emit_conversation(
    session: AsyncSession, conversation: AnyConversation, contact: Contact, now: datetime
) -> None:
    await record_event(
        session,
        conversation.tenant_id,
        "conversation.updated",
        {"conversation": conversation_json(conversation, contact, now)},
        conversation_audience(conversation),
    )


async def emit_hidden(
    session: AsyncSession, conversation: Conversation, audience_before: list[str]
) -> None:
    """Tell whoever could see the conversation before a change but not after that it left
    their view: its id only, nothing of its content."""
    lost = set(audience_before) - set(conversation_audience(conversation))
    if lost:
        await record_event(
            session,
            conversation.tenant_id,
            "conversation.hidden",
            {"conversation_id": str(conversation.id)},
            sorted(lost),
        )


async def reaction_failed(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    """``message`` just failed for good: if it is our reaction, its message shows the
    refusal instead of the emoji, told live as that message's ``message.updated``."""
    target = await reactions.take_back_refused(session, message)
    if target is not None:
        await emit_message(session, conversation, target, "message.updated")


async def emit_message(
    session: AsyncSession,
    conversation: AnyConversation,
    message: Message | NewMessage,
    type_: str,
    file: MediaFile | None = None,
) -> None:
    await record_event(
        session,
        conversation.tenant_id,
        type_,
        {"conversation_id": str(conversation.id), "message": message_json(message, file=file)},
        conversation_audience(conversation),
    )


async def lock_conversations_of(
    session: AsyncSession, contact_ids: list[uuid.UUID]
) -> list[Conversation]:
    """Every stored conversation of ``contact_ids``, locked (``FOR UPDATE``) in id order:
    the first locks an inbound round takes (runtime/domain/webhook_ingest.prepare_round),
    before it writes the contacts. A send that takes them before locking its contact (the
    marketing cap) cannot deadlock with a round (docs/campaigns.md, "Lock order")."""
    if not contact_ids:
        return []
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.contact_id.in_(contact_ids))
        .order_by(Conversation.id)
        .with_for_update()
    )
    return list(rows)


async def conversation_for(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    sender_id: uuid.UUID,
    contact: Contact,
    now: datetime,
) -> Conversation:
    """The conversation of (sender, contact), created (owned like the contact) if missing
    (without a look-up when the contact itself is not inserted yet).

    A concurrent creation surfaces as an IntegrityError at flush; callers retry the whole
    operation (a savepoint per call would cost two round trips on every webhook)."""
    found = None
    if not inspect(contact).pending:
        found = await session.scalar(
            select(Conversation).where(
                Conversation.sender_id == sender_id, Conversation.contact_id == contact.id
            )
        )
    if found is not None:
        return found
    conversation = new_conversation(tenant_id, sender_id, contact, now)
    session.add(conversation)
    return conversation


def note_outbound(
    conversation: AnyConversation, message: Message | NewMessage, now: datetime
) -> None:
    """A message was stored for sending: the conversation shows it last and is open."""
    conversation.last_message_at = now
    conversation.last_message_preview = preview(message)
    if conversation.status in ("resolved", "snoozed"):
        conversation.status, conversation.snoozed_until = "open", None


@dataclass(slots=True)
class NewConversation:
    """A conversation stored set-wise (one INSERT for a round's new conversations, no ORM
    object): every column of :class:`Conversation`, read like one by :func:`conversation_json`
    and the events. Built by :meth:`opened`."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    sender_id: uuid.UUID
    contact_id: uuid.UUID
    status: str
    assigned_agent_id: uuid.UUID | None
    assigned_team_id: uuid.UUID | None
    unread_count: int
    last_message_at: datetime | None
    last_message_preview: str
    last_inbound_at: datetime | None
    snoozed_until: datetime | None
    message_seq: int
    referral: dict[str, Any] | None
    typing_indicated_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def opened(
        cls, tenant_id: uuid.UUID, sender_id: uuid.UUID, contact: Contact, now: datetime
    ) -> NewConversation:
        """A conversation of (sender, contact), owned like the contact."""
        return cls(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            sender_id=sender_id,
            contact_id=contact.id,
            status="open",
            assigned_agent_id=contact.assigned_agent_id,
            assigned_team_id=contact.assigned_team_id,
            unread_count=0,
            last_message_at=now,
            last_message_preview="",
            last_inbound_at=None,
            snoozed_until=None,
            message_seq=0,
            referral=None,
            typing_indicated_at=None,
            created_at=now,
            updated_at=now,
        )

    def row(self) -> dict[str, Any]:
        """The columns (shallow: the referral is not copied)."""
        return {name: getattr(self, name) for name in _NEW_CONVERSATION_FIELDS}


_NEW_CONVERSATION_FIELDS = [f.name for f in fields(NewConversation)]

# A conversation the events and the 24-hour window read: stored, or not inserted yet.
AnyConversation = Conversation | NewConversation


def new_conversation(
    tenant_id: uuid.UUID, sender_id: uuid.UUID, contact: Contact, now: datetime
) -> Conversation:
    """A conversation of (sender, contact), owned like the contact, not added to a session."""
    return Conversation(**NewConversation.opened(tenant_id, sender_id, contact, now).row())


async def insert_new(
    connection: AsyncConnection,
    conversations: Collection[NewConversation],
    messages: Collection[NewMessage],
) -> int:
    """Insert ``messages`` set-wise, after ``conversations`` (new ones: one stored meanwhile
    raises IntegrityError): one statement from arrays on PostgreSQL, one per table on SQLite.
    A message whose unique key (wamid, idempotency key) is stored already is skipped:
    returns how many were inserted."""
    conversation_rows = [c.row() for c in conversations]
    message_rows = [m.row() for m in messages]
    if connection.dialect.name == "postgresql":
        return await _insert_from_arrays(connection, conversation_rows, message_rows)
    if conversation_rows:
        await connection.execute(_INSERT_CONVERSATIONS, conversation_rows)
    return len((await connection.execute(_INSERT_MESSAGES, message_rows)).all())


async def _insert_from_arrays(
    connection: AsyncConnection, conversations: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> int:
    parameters = _MESSAGES.parameters(messages, connection.dialect)
    if conversations:
        parameters |= _CONVERSATIONS.parameters(conversations, connection.dialect)
    statement = _messages_with_conversations(bool(conversations))
    return len((await connection.execute(statement, parameters)).all())


_CONVERSATIONS = ArrayInsert(
    cast(Table, Conversation.__table__), tuple(_NEW_CONVERSATION_FIELDS), "c"
)
_MESSAGES = ArrayInsert(cast(Table, Message.__table__), tuple(_NEW_MESSAGE_FIELDS), "m")
# SQLite's (no arrays there)
_INSERT_CONVERSATIONS = insert(_CONVERSATIONS.table)
_INSERT_MESSAGES = inserting_ignoring_conflicts("sqlite", _MESSAGES.table).returning(
    _MESSAGES.table.c.id
)


@functools.cache
def _messages_with_conversations(with_conversations: bool) -> TextClause:
    """The messages inserted (those stored already skipped, the new ones' ids returned),
    after the new conversations if ``with_conversations`` (PostgreSQL)."""
    insert_messages = f"{_MESSAGES.sql} ON CONFLICT DO NOTHING RETURNING id"
    if not with_conversations:
        return text(insert_messages)
    return text(f"WITH new_conversations AS ({_CONVERSATIONS.sql}) {insert_messages}")
