"""Putting a message on the send queue: in the transaction that stores it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ScalarSelect, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from runtime.db.base import as_utc
from runtime.domain import inbox, outbound, sender_failover
from runtime.domain.errors import Conflict, NotFound
from runtime.models import (
    Contact,
    Conversation,
    MediaFile,
    Message,
    Sender,
    SendPacing,
    SendQueueItem,
)
from runtime.outbound import limits
from runtime.settings import Settings

RESENDABLE = ("unknown", "failed")
K = TypeVar("K")
V = TypeVar("V")


async def submit(
    session: AsyncSession,
    settings: Settings,
    conversation: Conversation,
    contact: Contact,
    sender: Sender,
    agent_id: uuid.UUID,
    outgoing: outbound.Outgoing,
    now: datetime,
    resend_of_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> tuple[Message, SendQueueItem]:
    """Check Meta's rules and eligibility, store the message ``queued`` with its queue row
    (the caller commits both at once, then wakes the worker). New outreach from an unhealthy
    sender moves to the next healthy one (the message's conversation then differs from
    ``conversation``; runtime/domain/sender_failover.py)."""
    # The inbound round's lock order: the contact's conversations, then the contact.
    await inbox.lock_conversations_of(session, [contact.id])
    switch = None
    if isinstance(outgoing, outbound.TemplateOut):
        switch = await sender_failover.reroute(
            session, conversation, contact, sender, agent_id, now
        )
        if switch is not None:
            conversation, sender = switch.conversation, switch.sender
    outbound.ensure_sendable(sender, settings)
    prepared = await outbound.prepare(
        session, conversation, contact, sender, agent_id, outgoing, now, resend_of_id,
        idempotency_key,
    )  # fmt: skip
    if switch is not None:
        await sender_failover.record(session, switch, prepared.message, now)
    assert contact.phone is not None  # prepare() refuses contacts without one
    item = SendQueueItem(
        **queue_row(
            prepared.message.id,
            sender,
            contact.phone,
            prepared.call,
            prepared.business_initiated,
            prepared.not_before,
            now,
        )
    )
    session.add(item)
    return prepared.message, item


def queue_row(
    message_id: uuid.UUID,
    sender: Sender,
    phone: str,
    call: dict[str, Any],
    business_initiated: bool,
    deferred_until: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """The ``send_queue`` row of a message just stored (``deferred_until``: held by an
    eligibility rule, e.g. quiet hours)."""
    return {
        "message_id": message_id,
        "tenant_id": sender.tenant_id,
        "sender_id": sender.id,
        "recipient": phone,
        "request": call,
        "business_initiated": business_initiated,
        "state": "queued",
        "not_before": deferred_until or now,
        "wait_reason": "eligibility" if deferred_until else None,
        "deferrals": 0,
        "attempt_id": None,
        "claimed_at": None,
        "created_at": now,
    }


async def resend(
    session: AsyncSession,
    settings: Settings,
    conversation: Conversation,
    contact: Contact,
    sender: Sender,
    agent_id: uuid.UUID,
    original_id: uuid.UUID,
    now: datetime,
) -> tuple[Message, SendQueueItem]:
    """Send ``original`` again, deliberately, as a new message: only when it failed or its
    outcome is unknown (409 otherwise, so a delivered message is never repeated)."""
    original = await session.scalar(
        select(Message).where(
            Message.id == original_id,
            Message.conversation_id == conversation.id,
            Message.direction == "outbound",
        )
    )
    if original is None:
        raise NotFound("Message")
    if original.status not in RESENDABLE:
        raise Conflict(
            "message_not_resendable",
            f"Only a failed message or one whose outcome is unknown can be sent again; this "
            f"one is {original.status}.",
            {"status": original.status},
        )
    file = await session.scalar(select(MediaFile).where(MediaFile.message_id == original.id))
    return await submit(
        session,
        settings,
        conversation,
        contact,
        sender,
        agent_id,
        outbound.outgoing_of(original, file),
        now,
        resend_of_id=original.id,
    )


async def queue_rows(
    session: AsyncSession, messages: list[Message], now: datetime
) -> dict[uuid.UUID, SendQueueItem]:
    """The send-queue rows of those of ``messages`` still queued, for the API's estimate. A
    row already due waits its turn at the number's rate: its ``not_before`` is then the
    estimate from the due rows ahead of it (reason ``in_line``); these copies are detached,
    never written back. Three statements however many rows: the rows with their counts
    ahead, their numbers' rates, their numbers' backoffs."""
    waiting = [m.id for m in messages if m.status == "queued"]
    if not waiting:
        return {}
    rows = (
        await session.execute(
            select(SendQueueItem, _ahead()).where(
                SendQueueItem.message_id.in_(waiting), SendQueueItem.state == "queued"
            )
        )
    ).all()
    due = [(row, ahead) for row, ahead in rows if as_utc(row.not_before) <= now]
    if due:
        await _estimate_in_line(session, due, now)
    return {row.message_id: row for row, _ in rows}


def _ahead() -> ScalarSelect[int]:
    """Per row: the queued rows of its number due before it."""
    other = aliased(SendQueueItem)
    return (
        select(func.count())
        .where(
            other.state == "queued",
            other.sender_id == SendQueueItem.sender_id,
            other.not_before < SendQueueItem.not_before,
        )
        .correlate(SendQueueItem)
        .scalar_subquery()
    )


async def _estimate_in_line(
    session: AsyncSession, due: list[tuple[SendQueueItem, int]], now: datetime
) -> None:
    sender_ids = {row.sender_id for row, _ in due}
    rates = await _pairs(
        session, select(Sender.id, Sender.throughput_mps).where(Sender.id.in_(sender_ids))
    )
    backoffs = await _pairs(
        session,
        select(SendPacing.key, SendPacing.backoff_until).where(
            SendPacing.key.in_([limits.number_key(i) for i in sender_ids])
        ),
    )
    for row, ahead in due:
        opens = max(now.timestamp(), backoffs.get(limits.number_key(row.sender_id), 0.0))
        session.expunge(row)
        row.not_before = datetime.fromtimestamp(opens, UTC) + timedelta(
            seconds=ahead / max(1, rates.get(row.sender_id) or 1)
        )
        if opens > now.timestamp():
            row.wait_reason = "backoff"
        else:
            row.wait_reason = "in_line" if ahead else None


async def _pairs(session: AsyncSession, query: Select[K, V]) -> dict[K, V]:
    return {key: value for key, value in (await session.execute(query)).all()}
