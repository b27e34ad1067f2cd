"""What became of each recipient, read from the messages the campaign queued (their status
webhooks move them; nothing here is written twice), totals, rates, cost, CSV export."""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from runtime.campaigns.pricing import price_of
from runtime.models import CampaignRecipient, Contact, Conversation, Message

STATES = ("pending", "queued", "sent", "delivered", "read", "replied", "failed", "skipped")
HANDED_ON = ("sent", "delivered", "read", "replied", "failed")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "contact_id",
    "name",
    "phone",
    "state",
    "skip_rule",
    "error_code",
    "sender_id",
    "message_id",
    "queued_at",
]

_recipient = CampaignRecipient
_reply = aliased(Message)
# Replied: the customer wrote after the campaign's message, by the conversation's own order
# (Meta stamps inbound messages in whole seconds, so times cannot tell a reply in the same
# second from a message before it).
replied: ColumnElement[bool] = (
    select(_reply.id)
    .where(
        _reply.conversation_id == Message.conversation_id,
        _reply.direction == "inbound",
        _reply.conversation_seq > Message.conversation_seq,
    )
    .exists()
)
state_of: ColumnElement[str] = case(
    (_recipient.state == "skipped", "skipped"),
    (_recipient.state == "pending", "pending"),
    (Message.status == "failed", "failed"),
    (replied, "replied"),
    (Message.status.in_(("sent", "delivered", "read")), Message.status),
    else_="queued",
)


def _joined(stmt: Any, campaign_id: uuid.UUID) -> Select[Any]:
    """``stmt`` from the recipients, with their message and its conversation when queued."""
    return (
        stmt.select_from(_recipient)
        .outerjoin(Message, Message.id == _recipient.message_id)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
        .where(_recipient.campaign_id == campaign_id)
    )


async def totals(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, int]:
    """Recipients per state (every state present, zero when none)."""
    rows = await session.execute(
        _joined(select(state_of, func.count()), campaign_id).group_by(state_of)
    )
    found = {str(row[0]): int(row[1]) for row in rows}
    return {state: found.get(state, 0) for state in STATES}


async def totals_of(
    session: AsyncSession, campaign_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Raw recipient states of several campaigns at once (the list's live progress)."""
    rows = await session.execute(
        select(_recipient.campaign_id, _recipient.state, func.count())
        .where(_recipient.campaign_id.in_(campaign_ids))
        .group_by(_recipient.campaign_id, _recipient.state)
    )
    out: dict[uuid.UUID, dict[str, int]] = {i: {} for i in campaign_ids}
    for campaign_id, state, n in rows:
        out[campaign_id][state] = int(n)
    return out


def rates(counts: dict[str, int]) -> dict[str, float]:
    """Shares over the messages handed on to Meta (a reply counts as read and delivered)."""
    handed = sum(counts[s] for s in HANDED_ON)
    reached = {
        "delivered": counts["delivered"] + counts["read"] + counts["replied"],
        "read": counts["read"] + counts["replied"],
        "replied": counts["replied"],
        "failed": counts["failed"],
    }
    return {key: round(n / handed, 4) if handed else 0.0 for key, n in reached.items()}


async def cost(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, Any]:
    """Billable messages per pricing category, from the ``pricing`` of status webhooks
    (``type: regular``), and their cost by the price table."""
    rows = await session.execute(
        _joined(select(Message.pricing), campaign_id).where(Message.pricing.is_not(None))
    )
    billable: dict[str, int] = {}
    for (pricing,) in rows:
        if pricing.get("type", "regular") == "regular" and pricing.get("billable", True):
            category = str(pricing.get("category", "marketing")).upper()
            billable[category] = billable.get(category, 0) + 1
    amount = sum(price_of(category).amount * n for category, n in billable.items())
    return {"billable": billable, "amount": round(amount, 4), "currency": "USD"}


TIMELINE_MAX_BUCKETS = 1440  # a day of minutes; a longer campaign gets wider buckets
# Each series: the moment it counts, and the condition for counting it.
_TIMELINE: dict[str, tuple[Any, Any]] = {
    "queued": (_recipient.queued_at, _recipient.queued_at.is_not(None)),
    "sent": (Message.sent_at, Message.sent_at.is_not(None)),
    "delivered": (Message.delivered_at, Message.delivered_at.is_not(None)),
    "read": (Message.read_at, Message.read_at.is_not(None)),
    "replied": (Conversation.last_inbound_at, replied),
    "failed": (Message.status_updated_at, Message.status == "failed"),
}


def _epoch(moment: Any, dialect: str) -> Any:
    """Unix seconds of a timestamp column, in SQL."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", moment)), Integer)
    return cast(func.strftime("%s", moment), Integer)


async def timeline(
    session: AsyncSession, campaign_id: uuid.UUID, bucket_seconds: int
) -> dict[str, Any]:
    """The campaign's recipients queued, and its messages sent / delivered / read / replied
    / failed, per time bucket (counted by the database, one grouped query per series; every
    bucket from the first to the last present). The bucket widens (whole multiples) to keep
    at most ``TIMELINE_MAX_BUCKETS``. A reply counts at the conversation's latest inbound
    message."""
    dialect = session.get_bind().dialect.name
    counts: dict[int, dict[str, int]] = {}  # bucket start (Unix seconds) → series → count
    for series, (moment, counted) in _TIMELINE.items():
        start = _epoch(moment, dialect) // bucket_seconds * bucket_seconds
        rows = await session.execute(
            _joined(select(start, func.count()), campaign_id).where(counted).group_by(start)
        )
        for at, n in rows:
            counts.setdefault(int(at), {})[series] = int(n)
    if not counts:
        return {"bucket_seconds": bucket_seconds, "buckets": []}
    first, last = min(counts), max(counts)
    bucket = bucket_seconds * math.ceil((last - first + 1) / bucket_seconds / TIMELINE_MAX_BUCKETS)
    rows_out = [dict.fromkeys(_TIMELINE, 0) for _ in range((last - first) // bucket + 1)]
    for at, by_series in counts.items():
        for series, n in by_series.items():
            rows_out[(at - first) // bucket][series] += n
    return {
        "bucket_seconds": bucket,
        "buckets": [
            {"at": datetime.fromtimestamp(first + i * bucket, UTC).isoformat(), **row}
            for i, row in enumerate(rows_out)
        ],
    }


def recipients_query(campaign_id: uuid.UUID, state: str | None = None) -> Select[Any]:
    stmt = _joined(
        select(
            _recipient.contact_id,
            Contact.name,
            Contact.phone,
            state_of.label("state"),
            _recipient.skip_rule,
            Message.error_code,
            _recipient.sender_id,
            _recipient.message_id,
            _recipient.queued_at,
        ),
        campaign_id,
    ).join(Contact, Contact.id == _recipient.contact_id)
    if state is not None:
        stmt = stmt.where(state_of == state)
    return stmt.order_by(_recipient.contact_id)


def neutral(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a
    leading apostrophe (OWASP's advice for formula injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


async def csv_lines(session: AsyncSession, campaign_id: uuid.UUID) -> AsyncIterator[str]:
    """The recipients as CSV, header first, streamed from the database in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    result = await session.stream(recipients_query(campaign_id))
    async for partition in result.partitions(1000):
        for row in partition:
            writer.writerow([neutral(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
