"""Warm-up ramps: a new number reaches a few unique recipients a day through campaigns, more
each day while Meta rates its quality GREEN (docs/campaigns.md).

Each UTC day the budget is re-decided from the number's quality as it is then: GREEN doubles
it, YELLOW holds it, RED (or FLAGGED) stops the ramp (budget 0 until someone sets a new one).
Every campaign obeys it: the feeder never queues more unique recipients on a number in a day
than its budget."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.models import CampaignRecipient, Sender, SenderWarmup

MAX_BUDGET = 1_000_000
BAD_QUALITY = frozenset({"RED", "FLAGGED"})


@dataclass(frozen=True)
class Budget:
    sender_id: uuid.UUID
    state: str  # ramping | holding | stopped
    budget: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.used)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def advance(warmup: SenderWarmup, quality: str, today: date) -> None:
    """Bring the ramp to ``today``: one step per day passed, by today's quality."""
    while warmup.budget_day < today and warmup.state != "stopped":
        warmup.budget_day += timedelta(days=1)
        if quality in BAD_QUALITY:
            warmup.state, warmup.budget = "stopped", 0
        elif quality == "GREEN":
            warmup.state, warmup.budget = "ramping", min(MAX_BUDGET, warmup.budget * 2)
        else:  # YELLOW, or not rated yet: hold
            warmup.state = "holding"
    warmup.budget_day = max(warmup.budget_day, today)


async def used_today(
    session: AsyncSession, sender_ids: list[uuid.UUID], today: date
) -> dict[uuid.UUID, int]:
    """Unique contacts queued through each number by campaigns since today's UTC midnight."""
    rows = await session.execute(
        select(CampaignRecipient.sender_id, func.count(func.distinct(CampaignRecipient.contact_id)))
        .where(
            CampaignRecipient.sender_id.in_(sender_ids),
            CampaignRecipient.state == "queued",
            CampaignRecipient.queued_at >= day_start(today),
        )
        .group_by(CampaignRecipient.sender_id)
    )
    return {sender: int(used) for sender, used in rows if sender is not None}


async def budgets(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime, sender_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Budget]:
    """Today's budget of those of ``sender_ids`` that carry a ramp (advanced to today; the
    caller commits). Numbers without a ramp are not in the answer: no warm-up limit. The ramp
    rows stay locked until the caller's transaction ends, so two campaigns feeding through one
    number never both spend its last budget."""
    today = now.astimezone(UTC).date()
    rows = await session.execute(
        select(SenderWarmup, Sender.quality_rating)
        .join(Sender, Sender.id == SenderWarmup.sender_id)
        .where(SenderWarmup.tenant_id == tenant_id, SenderWarmup.sender_id.in_(sender_ids))
        .order_by(SenderWarmup.sender_id)  # one lock order for every caller
        .with_for_update(of=SenderWarmup)
    )
    ramps = [(warmup, quality) for warmup, quality in rows]
    for warmup, quality in ramps:
        advance(warmup, quality, today)
    used = await used_today(session, [w.sender_id for w, _ in ramps], today)
    return {
        w.sender_id: Budget(w.sender_id, w.state, w.budget, used.get(w.sender_id, 0))
        for w, _ in ramps
    }


def start_ramp(
    session: AsyncSession, warmup: SenderWarmup | None, sender: Sender, day_one: int, now: datetime
) -> SenderWarmup:
    """Start (or restart) ``sender``'s ramp today at ``day_one`` recipients."""
    if warmup is None:
        warmup = SenderWarmup(id=uuid.uuid4(), tenant_id=sender.tenant_id, sender_id=sender.id)
        session.add(warmup)
    warmup.day_one_budget = warmup.budget = day_one
    warmup.budget_day = now.astimezone(UTC).date()
    warmup.state = "ramping"
    warmup.created_at = now
    return warmup
