"""Send limits shared by every replica, kept in the database.

Each limit is one ``send_pacing`` row holding a GCRA state (the "theoretical arrival time"
``next_at``): a send may go at ``slot = max(now, next_at - tolerance, backoff_until)`` and
pushes ``next_at`` by ``1 / rate``. A worker locks the rows it needs (``SELECT … FOR UPDATE``
in key order, so two workers never deadlock), plans a batch in memory and writes them back
in the same transaction: two processes together never hand out more slots than one rate.

- a number: the sender's throughput (80 msg/s, or the upgraded value) with the sends' late
  tolerance counted into the spacing (:func:`number_interval`), no burst;
- a pair (number, recipient): one message per 6 s with Meta's burst (``tolerance``);
- a portfolio's daily budget of unique recipients outside an open window: counted in
  ``recipient_budget`` under the portfolio's lock row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc
from runtime.models import RecipientBudget, SendPacing

PAIR_INTERVAL = 6.0
BUDGET_WINDOW = timedelta(hours=24)
# Unique recipients outside an open window per rolling 24 h, by messaging-limit tier.
DAILY_RECIPIENTS: dict[str, int | None] = {
    "TIER_NOT_SET": 250,
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 2_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}


def number_interval(throughput: float, late: float) -> float:
    """Seconds between a number's slots so that no 1-s window, sliding, holds more than
    ``throughput`` send starts when each start is at most ``late`` after its slot: the starts
    in [t, t + 1) have their slots in [t − late, t + 1), which holds at most
    ⌈(1 + late) / interval⌉ = ``throughput`` of them (plus a microsecond against float
    rounding of the slots' sums)."""
    return (1.0 + late + 1e-6) / max(1.0, throughput)


def number_key(sender_id: uuid.UUID) -> str:
    return f"n:{sender_id}"


def pair_key(sender_id: uuid.UUID, recipient: str) -> str:
    return f"p:{sender_id}:{recipient}"


def budget_key(portfolio: str) -> str:
    return f"b:{portfolio}"


@dataclass
class PaceRow:
    """One locked ``send_pacing`` row, as plain values (written back by :func:`save`)."""

    key: str
    next_at: float
    backoff_until: float
    taken: bool = False  # a slot was used: ``next_at`` moved


@dataclass
class Pace:
    """One locked ``send_pacing`` row with the rate it enforces."""

    row: PaceRow
    interval: float  # seconds between sends at the sustained rate
    tolerance: float = 0.0  # how far ahead of the sustained rate a burst may go

    def slot(self, now: float) -> float:
        """The earliest moment the next send may go."""
        return max(now, self.row.next_at - self.tolerance, self.row.backoff_until)

    def room(self, now: float, until: float) -> int:
        """How many sends fit between ``now`` and ``until`` at this rate."""
        first = self.slot(now)
        return 0 if first > until else int((until - first) / self.interval) + 1

    def take(self, at: float) -> None:
        """Use the slot at ``at`` (from :meth:`slot`)."""
        self.row.next_at = max(self.row.next_at, at) + self.interval
        self.row.taken = True


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT (both have ON CONFLICT)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def lock(session: AsyncSession, keys: set[str]) -> dict[str, PaceRow]:
    """The pacing rows of ``keys``, created if missing, locked until the transaction ends.
    Both statements are the same SQL for any number of keys (compiled once, then cached)."""
    if not keys:
        return {}
    ordered = sorted(keys)
    await session.execute(
        _insert(session)(SendPacing).on_conflict_do_nothing(index_elements=["key"]),
        [{"key": key, "next_at": 0.0, "backoff_until": 0.0} for key in ordered],
    )
    rows = await session.execute(
        select(SendPacing.key, SendPacing.next_at, SendPacing.backoff_until)
        .where(SendPacing.key.in_(ordered))
        .order_by(SendPacing.key)
        .with_for_update()
    )
    return {key: PaceRow(key, next_at, backoff_until) for key, next_at, backoff_until in rows}


async def save(session: AsyncSession, rows: Iterable[PaceRow]) -> None:
    """Write back the ``next_at`` of the rows whose slots were taken (one executemany)."""
    taken = [{"key": row.key, "next_at": row.next_at} for row in rows if row.taken]
    if taken:
        await session.execute(update(SendPacing), taken)


async def back_off(session: AsyncSession, key: str, until: float) -> None:
    """Hold one limit closed until ``until`` (Unix seconds), e.g. after 130429."""
    await session.execute(
        update(SendPacing)
        .where(SendPacing.key == key, SendPacing.backoff_until < until)
        .values(backoff_until=until)
    )


async def prune_pairs(session: AsyncSession, now: float) -> None:
    """Forget pair rows idle long enough to be equal to fresh ones."""
    await session.execute(
        delete(SendPacing).where(
            SendPacing.key.like("p:%"),
            SendPacing.next_at < now - 45 * PAIR_INTERVAL,
            SendPacing.backoff_until < now,
        )
    )


class Budget:
    """A portfolio's daily budget of unique recipients outside an open window, for one
    claim round (the caller holds the portfolio's lock row)."""

    def __init__(self, portfolio: str, limit: int | None, counted: set[str], used: int) -> None:
        self.portfolio = portfolio
        self.limit = limit
        self._counted = counted
        self._used = used
        self.added: list[str] = []

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        portfolio: str,
        tier: str,
        recipients: set[str],
        now: datetime,
    ) -> Budget:
        limit = DAILY_RECIPIENTS.get(tier, 250)
        if limit is None:
            return cls(portfolio, None, set(), 0)
        since = now - BUDGET_WINDOW
        in_window = (RecipientBudget.portfolio == portfolio, RecipientBudget.sent_at > since)
        counted = set(
            (
                await session.execute(
                    select(RecipientBudget.recipient).where(
                        *in_window, RecipientBudget.recipient.in_(recipients)
                    )
                )
            ).scalars()
        )
        used = await session.scalar(select(func.count()).where(*in_window))
        return cls(portfolio, limit, counted, int(used or 0))

    def admit(self, recipient: str) -> bool:
        """Whether a business-initiated send to ``recipient`` fits the budget (and count it:
        a recipient already counted in the window costs nothing more)."""
        if self.limit is None:
            return True
        if recipient not in self._counted:
            if self._used >= self.limit:
                return False
            self._used += 1
            self._counted.add(recipient)
        self.added.append(recipient)
        return True

    async def save(self, session: AsyncSession, now: datetime) -> None:
        if not self.added:
            return
        insert = _insert(session)
        statement = insert(RecipientBudget).values(
            [{"portfolio": self.portfolio, "recipient": r, "sent_at": now} for r in self.added]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["portfolio", "recipient"], set_={"sent_at": now}
            )
        )

    async def frees_at(self, session: AsyncSession, now: datetime) -> datetime:
        """When the oldest counted recipient leaves the rolling window."""
        oldest = await session.scalar(
            select(func.min(RecipientBudget.sent_at)).where(
                RecipientBudget.portfolio == self.portfolio,
                RecipientBudget.sent_at > now - BUDGET_WINDOW,
            )
        )
        return (as_utc(oldest) if oldest else now) + BUDGET_WINDOW
