"""Putting a message on the send queue: in the transaction that stores it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc
from runtime.domain import outbound, sender_failover
from runtime.domain.errors import Conflict, NotFound
from runtime.models import Contact, Conversation, Message, Sender, SendPacing, SendQueueItem
from runtime.outbound import limits
from runtime.settings import Settings

RESENDABLE = ("unknown", "failed")


async def submit(
    session: AsyncSession,
    settings: Settings,
    conversation: Conversation,
    contact: Contact,
    sender: Sender,
    agent_id: uuid.UUID,
    outgoing: outbound.TextOut | outbound.TemplateOut,
    now: datetime,
) -> tuple[Message, SendQueueItem]:
    """Check Meta's rules and eligibility, store the message ``queued`` with its queue row
    (the caller commits both at once, then wakes the worker). New outreach from an unhealthy
    sender moves to the next healthy one (the message's conversation then differs from
    ``conversation``; runtime/domain/sender_failover.py)."""
    switch = None
    if isinstance(outgoing, outbound.TemplateOut):
        switch = await sender_failover.reroute(
            session, conversation, contact, sender, agent_id, now
        )
        if switch is not None:
            conversation, sender = switch.conversation, switch.sender
    outbound.ensure_sendable(sender, settings)
    prepared = await outbound.prepare(
        session, conversation, contact, sender, agent_id, outgoing, now
    )
    if switch is not None:
        await sender_failover.record(session, switch, prepared.message, now)
    assert contact.phone is not None  # prepare() refuses contacts without one
    item = SendQueueItem(
        message_id=prepared.message.id,
        tenant_id=conversation.tenant_id,
        sender_id=sender.id,
        recipient=contact.phone,
        request=prepared.call,
        business_initiated=prepared.business_initiated,
        state="queued",
        not_before=prepared.not_before or now,
        wait_reason="eligibility" if prepared.not_before else None,
        deferrals=0,
        created_at=now,
    )
    session.add(item)
    return prepared.message, item


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
    message, item = await submit(
        session,
        settings,
        conversation,
        contact,
        sender,
        agent_id,
        outbound.outgoing_of(original),
        now,
    )
    message.resend_of_id = original.id
    return message, item


async def queue_rows(
    session: AsyncSession, messages: list[Message], now: datetime
) -> dict[uuid.UUID, SendQueueItem]:
    """The send-queue rows of those of ``messages`` still queued, for the API's estimate. A
    row already due waits its turn at the number's rate: its ``not_before`` is then the
    estimate from the due rows ahead of it (reason ``in_line``); these copies are detached,
    never written back."""
    waiting = [m.id for m in messages if m.status == "queued"]
    if not waiting:
        return {}
    rows = await session.execute(
        select(SendQueueItem).where(
            SendQueueItem.message_id.in_(waiting), SendQueueItem.state == "queued"
        )
    )
    found = {row.message_id: row for row in rows.scalars()}
    for row in found.values():
        if as_utc(row.not_before) <= now:
            await _estimate_in_line(session, row, now)
    return found


async def _estimate_in_line(session: AsyncSession, row: SendQueueItem, now: datetime) -> None:
    ahead = await session.scalar(
        select(func.count()).where(
            SendQueueItem.state == "queued",
            SendQueueItem.sender_id == row.sender_id,
            SendQueueItem.not_before < row.not_before,
        )
    )
    rate = await session.scalar(select(Sender.throughput_mps).where(Sender.id == row.sender_id))
    pace = await session.get(SendPacing, limits.number_key(row.sender_id))
    opens = max(now.timestamp(), pace.backoff_until if pace is not None else 0.0)
    session.expunge(row)
    row.not_before = datetime.fromtimestamp(opens, UTC) + timedelta(
        seconds=int(ahead or 0) / max(1, rate or 1)
    )
    if opens > now.timestamp():
        row.wait_reason = "backoff"
    else:
        row.wait_reason = "in_line" if ahead else None
