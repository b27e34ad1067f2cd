"""Many templates onto the send queue at once (a campaign's round): the rules of
:func:`~runtime.outbound.queue.submit` applied set-wise, a fixed number of statements
however many messages.

Per number: in service with a readable token (``ensure_sendable``) and the template APPROVED
on its account — a refusal there refuses all its requests. Per contact, in SQL for the whole
set: the eligibility rules of :func:`~runtime.domain.eligibility.check_outreach_many`
(do-not-contact, opted out, marketing cap, quiet hours). Locks are taken in the order an
inbound round takes them (runtime/domain/webhook_ingest.prepare_round), so the two do not
deadlock over these rows: first every stored conversation of the contacts, in id order,
waited for (before any request goes through ``submit`` one by one); then the contacts (the
marketing cap's lock), skipped when another transaction holds them (that request is
answered ``retry``). The missing conversations and the messages
are inserted in one statement, as an inbound round inserts its own
(:func:`~runtime.domain.inbox.insert_new`), each message under its idempotency key (unique
per tenant: a key already stored is answered ``duplicate``, never sent twice; one stored by
a concurrent transaction raises :class:`BatchConflict`); their outreach counts and queue
rows in one INSERT each; the conversations' numbering and events as ``submit`` does.

A number that may not start new outreach (runtime/domain/sender_health.outreach_blocker)
fails over per message: its requests go through ``submit`` one by one (the failover rule
decides per contact's conversation).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox, outbound
from runtime.domain.eligibility import check_outreach_many, outreach_row
from runtime.domain.errors import Conflict, DomainError
from runtime.domain.sender_health import outreach_blocker
from runtime.domain.templates import approved_template, render
from runtime.models import (
    Contact,
    Conversation,
    Message,
    OutreachSend,
    Sender,
    SendQueueItem,
    Template,
)
from runtime.outbound.queue import queue_row, submit
from runtime.settings import Settings


@dataclass(frozen=True)
class BatchRequest:
    """One template to one contact through one number; ``key`` is unique per tenant
    (e.g. ``campaign:<id>:<contact>``); ``not_before``: held at least until then (e.g. the
    campaign's rate-cap slot)."""

    key: str
    contact: Contact
    sender: Sender
    outgoing: outbound.TemplateOut
    not_before: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """``queued`` (``message_id`` stored now), ``duplicate`` (``message_id`` stored earlier
    under the key), ``refused`` (``error`` names the rule), or ``retry`` (nothing stored, try
    again later: another transaction held the contact, or, through ``submit``, created the
    conversation concurrently)."""

    kind: Literal["queued", "duplicate", "refused", "retry"]
    message_id: uuid.UUID | None = None
    error: DomainError | None = None


@dataclass
class _Ready:
    """A request that passed every rule, with what storing it needs."""

    index: int
    request: BatchRequest
    call: dict[str, Any]
    body: str
    category: str
    deferred_until: datetime | None


async def submit_batch(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    requests: list[BatchRequest],
    now: datetime,
) -> list[Outcome]:
    """Store each request's message ``queued`` with its queue row, or say why not; one
    outcome per request, in order. The caller commits, then wakes the send worker."""
    outcomes: dict[int, Outcome] = {}
    stored = await _stored_keys(session, tenant_id, [r.key for r in requests])
    fresh = []
    for index, request in enumerate(requests):
        if request.key in stored:
            outcomes[index] = Outcome("duplicate", stored[request.key])
        else:
            fresh.append((index, request))
    checked = await _checked_by_number(session, settings, fresh, outcomes)
    # Locks in the inbound round's order (runtime/domain/webhook_ingest.prepare_round):
    # every conversation of the round's contacts first (waited for, in id order), then the
    # contacts (the one-by-one requests wait for theirs; the others are never waited for).
    contacts = {r.contact.id for _, r, _, _, _ in checked.rendered}
    contacts |= {r.contact.id for _, r in checked.one_by_one}
    existing = {
        (c.sender_id, c.contact_id): c
        for c in await inbox.lock_conversations_of(session, sorted(contacts))
    }
    for index, request in checked.one_by_one:
        outcomes[index] = await _submit_one(session, settings, tenant_id, agent_id, request, now)
    ready = await _eligible(session, tenant_id, checked.rendered, now, outcomes)
    if ready:
        await _store(session, tenant_id, agent_id, ready, existing, now, outcomes)
    return [outcomes[index] for index in range(len(requests))]


@dataclass
class _Checked:
    rendered: list[tuple[int, BatchRequest, Template, dict[str, Any], str]]
    one_by_one: list[tuple[int, BatchRequest]]


async def _checked_by_number(
    session: AsyncSession,
    settings: Settings,
    requests: list[tuple[int, BatchRequest]],
    outcomes: dict[int, Outcome],
) -> _Checked:
    """The per-number rules (in service, template approved), then each template rendered
    with its parameters; refusals go to ``outcomes``."""
    checked = _Checked([], [])
    templates: dict[tuple[uuid.UUID, str, str], Template | DomainError] = {}
    for index, request in requests:
        sender, out = request.sender, request.outgoing
        template = templates.get((sender.id, out.name, out.language))
        if template is None:
            template = await _number_template(session, settings, sender, out)
            templates[(sender.id, out.name, out.language)] = template
        if isinstance(template, DomainError):
            outcomes[index] = Outcome("refused", error=template)
        elif request.contact.phone is None:
            outcomes[index] = Outcome("refused", error=_no_phone())
        elif outreach_blocker(sender) is not None:
            checked.one_by_one.append((index, request))
        else:
            try:
                rendered = render(template, out.parameters)
            except DomainError as refused:
                outcomes[index] = Outcome("refused", error=refused)
                continue
            call = {"kind": "template", "name": template.name, "language": template.language,
                    "components": rendered.components}  # fmt: skip
            checked.rendered.append((index, request, template, call, rendered.text))
    return checked


async def _number_template(
    session: AsyncSession, settings: Settings, sender: Sender, out: outbound.TemplateOut
) -> Template | DomainError:
    try:
        outbound.ensure_sendable(sender, settings)
        return await approved_template(session, sender, out.name, out.language)
    except DomainError as refused:
        return refused


def _no_phone() -> Conflict:
    return Conflict("contact_has_no_phone", "This contact has no phone number to send to.")


async def _eligible(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    rendered: list[tuple[int, BatchRequest, Template, dict[str, Any], str]],
    now: datetime,
    outcomes: dict[int, Outcome],
) -> list[_Ready]:
    """The eligibility rules per template category, set-wise; refusals go to ``outcomes``.
    A contact another transaction holds (an inbound round writing it, another send) is not
    waited for: its request is answered ``retry``."""
    by_category: dict[str, list[Contact]] = defaultdict(list)
    for _, request, template, _, _ in rendered:
        by_category[template.category].append(request.contact)
    verdicts = {
        category: await check_outreach_many(
            session, tenant_id, contacts, category, now, skip_busy=True
        )
        for category, contacts in by_category.items()
    }
    ready = []
    for index, request, template, call, body in rendered:
        verdict = verdicts[template.category][request.contact.id]
        if verdict.outcome == "busy":
            outcomes[index] = Outcome("retry")
            continue
        try:
            deferred_until = verdict.deferral()
        except DomainError as refused:
            outcomes[index] = Outcome("refused", error=refused)
            continue
        ready.append(_Ready(index, request, call, body, template.category, deferred_until))
    return ready


class BatchConflict(Exception):
    """A row the batch meant to insert was stored meanwhile by another transaction (a
    conversation with one of the contacts, a message under one of the keys): nothing of the
    caller's transaction may be committed; retrying it finds them."""


async def _store(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    ready: list[_Ready],
    existing: dict[tuple[uuid.UUID, uuid.UUID], Conversation],
    now: datetime,
    outcomes: dict[int, Outcome],
) -> None:
    """The messages, in their conversations (``existing``: the stored ones, locked, updated
    in one statement; the new ones inserted as they end up), their outreach counts, queue
    rows and events."""
    new: dict[tuple[uuid.UUID, uuid.UUID], inbox.NewConversation] = {}
    messages: list[tuple[_Ready, inbox.AnyConversation, inbox.NewMessage]] = []
    for item in ready:
        sender, contact = item.request.sender, item.request.contact
        conversation = existing.get((sender.id, contact.id)) or new.get((sender.id, contact.id))
        if conversation is None:
            conversation = inbox.NewConversation.opened(tenant_id, sender.id, contact, now)
            new[(sender.id, contact.id)] = conversation
        conversation.message_seq += 1  # locked, or not stored yet: numbered in memory
        message = _message(item, conversation, agent_id, now)
        inbox.note_outbound(conversation, message, now)
        messages.append((item, conversation, message))
    await _insert(session, new.values(), [message for _, _, message in messages])
    queue_rows, outreach_rows = [], []
    for item, conversation, message in messages:
        contact = item.request.contact
        await inbox.emit_message(session, conversation, message, "message.created")
        await inbox.emit_conversation(session, conversation, contact, now)
        outreach_rows.append(outreach_row(contact, message.id, item.category, now))
        queue_rows.append(_queue_row(item, conversation, message.id, now))
        outcomes[item.index] = Outcome("queued", message.id)
    await session.execute(insert(OutreachSend), outreach_rows)
    await session.execute(insert(SendQueueItem), queue_rows)


async def _insert(
    session: AsyncSession,
    conversations: Collection[inbox.NewConversation],
    messages: list[inbox.NewMessage],
) -> None:
    """Insert the new conversations and the messages as an inbound round does, or raise
    :class:`BatchConflict` if one of them was stored meanwhile."""
    try:
        stored = await inbox.insert_new(await session.connection(), conversations, messages)
    except IntegrityError as exc:
        raise BatchConflict("a conversation with a contact was stored meanwhile") from exc
    if stored != len(messages):
        raise BatchConflict("a message under one of the keys was stored meanwhile")


def _message(
    item: _Ready, conversation: inbox.AnyConversation, agent_id: uuid.UUID, now: datetime
) -> inbox.NewMessage:
    # As runtime/domain/outbound.py stores a template: ``parameters`` as given, to resend it.
    payload = {"type": "template", "template": {
        "name": item.call["name"], "language": item.call["language"],
        "components": item.call["components"]},
        "parameters": item.request.outgoing.parameters}  # fmt: skip
    return inbox.NewMessage(
        id=uuid.uuid4(),
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        conversation_seq=conversation.message_seq,
        wamid=None,
        direction="outbound",
        type="template",
        body=item.body,
        payload=payload,
        status="queued",
        error_code=None,
        error_message=None,
        created_at=now,
        sent_by_agent_id=agent_id,
        idempotency_key=item.request.key,
    )


def _queue_row(
    item: _Ready, conversation: inbox.AnyConversation, message_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    request = item.request
    assert request.contact.phone is not None  # refused earlier otherwise
    row = queue_row(
        message_id,
        request.sender,
        request.contact.phone,
        item.call,
        not inbox.window_open(conversation, now),
        item.deferred_until,
        now,
    )
    if request.not_before is not None and request.not_before > row["not_before"]:
        row["not_before"] = request.not_before
    return row


async def _stored_keys(
    session: AsyncSession, tenant_id: uuid.UUID, keys: list[str]
) -> dict[str, uuid.UUID]:
    """Messages of the tenant already stored under one of ``keys``, by key."""
    if not keys:
        return {}
    rows = await session.execute(
        select(Message.idempotency_key, Message.id).where(
            Message.tenant_id == tenant_id, Message.idempotency_key.in_(keys)
        )
    )
    return {key: message_id for key, message_id in rows if key is not None}


async def _submit_one(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    request: BatchRequest,
    now: datetime,
) -> Outcome:
    """A request through :func:`submit`, in a savepoint (its number fails over per
    conversation)."""
    try:
        async with session.begin_nested():
            conversation = await inbox.conversation_for(
                session, tenant_id, request.sender.id, request.contact, now
            )
            message, item = await submit(
                session, settings, conversation, request.contact, request.sender, agent_id,
                request.outgoing, now, idempotency_key=request.key,
            )  # fmt: skip
    except IntegrityError:  # the conversation was created at this moment elsewhere
        return Outcome("retry")
    except DomainError as refused:
        return Outcome("refused", error=refused)
    if request.not_before is not None and request.not_before > item.not_before:
        item.not_before = request.not_before
    return Outcome("queued", message.id)
