"""The processing side: apply stored webhooks in batches, in id order, one lease at a time.

One round = one transaction: claim the oldest unprocessed rows under the processing lease
(taking the lease and marking the rows processed in the same statement), read what they name
and insert their new contacts (:func:`~runtime.domain.webhook_ingest.prepare_round`), apply
each with :func:`~runtime.domain.webhook_ingest.ingest`, write the round's conversations and
messages (:func:`~runtime.domain.webhook_ingest.finish_round`), commit. If a webhook raises,
the round is redone with one SAVEPOINT per webhook: the failing one is rolled back alone,
counted (``attempts``, ``last_error``, un-marked) and retried in a later round; after
``max_attempts`` it is set aside (``processed_at`` and ``last_error`` both set), never
blocking the ones behind it.

Order: on PostgreSQL the lease is a transaction-scoped advisory lock, so however many
processors run (processes, pods) only one applies webhooks at a time, in id order, and the
others stand by (they take over the moment it dies: the lock goes with its connection).
SQLite (one process, ``BEGIN IMMEDIATE``) serialises rounds by itself.

Cost: the claim statement is built once per processor (only SQLAlchemy's cache look-up is
left per round) and also returns the ``config_epoch``, which keeps the processor's
:class:`~runtime.db.config_cache.ConfigCache` (senders by number, holding teams, consent
keywords) valid across rounds at no round trip of its own. On PostgreSQL the processor keeps
its connection from one round to the next while they follow closely (within
``KEEP_CONNECTION_FOR``): a connection checked out of the pool is pre-pinged first, which on
asyncpg costs three round trips (BEGIN, ping, ROLLBACK) per round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from prometheus_client import Counter
from sqlalchemy import Row, Table, Update, bindparam, func, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from runtime.db.base import as_utc, error_text, utcnow
from runtime.db.config_cache import CURRENT_EPOCH, ConfigCache
from runtime.db.leases import INBOUND_PROCESSING, take_transaction_lease, under_lease
from runtime.db.session import OwnedConnection
from runtime.domain.webhook_ingest import RoundConflict, finish_round, ingest, prepare_round
from runtime.models import InboundWebhook

log = logging.getLogger(__name__)

# A kept connection idle longer than this goes back to the pool (and the next round's is
# pre-pinged): one that served a round a moment ago is alive, one idle for long may not be.
KEEP_CONNECTION_FOR = 1.0  # seconds

SET_ASIDE = Counter("scrm_inbound_set_aside", "Stored webhooks set aside after failing to apply")


@dataclass(frozen=True, slots=True)
class Round:
    """What one round did: rows claimed, rows left to retry, or ``busy`` when another
    processor held the lease."""

    claimed: int = 0
    retrying: int = 0
    busy: bool = False


_Stored = Row[int, bytes, datetime, int, int | None]  # id, body, received_at, attempts, epoch


class _WebhookFailed(Exception):
    """A webhook failed in an optimistic round: redo the round with one SAVEPOINT each."""


def _parsed(body: bytes) -> dict[str, Any] | Exception:
    """A stored body as a JSON object, or why it is not one (applying it then fails)."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return exc
    return payload if isinstance(payload, dict) else TypeError("not a JSON object")


class InboundProcessor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        batch_size: int = 500,
        max_attempts: int = 3,
        busy_delay: float = 0.01,
        retry_delay: float = 0.5,
        holder_notified: Callable[[], bool] = lambda: False,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._busy_delay = busy_delay
        self._retry_delay = retry_delay
        # Whether the lease holder is told of new rows (runtime/db/notify.py): then a
        # processor that finds the lease taken leaves them to it instead of retrying.
        self._holder_notified = holder_notified
        self._woken = False
        self._task: asyncio.Task[None] | None = None
        self._config = ConfigCache()
        self._claim_statement: Update | None = None
        engine = sessionmaker.kw.get("bind")
        # SQLite: one connection in the pool, which nobody may keep
        self._kept = (
            OwnedConnection(engine)
            if isinstance(engine, AsyncEngine) and engine.dialect.name == "postgresql"
            else None
        )
        self._kept_since = 0.0  # time.monotonic() of the kept connection's last round
        self._kept_in_use = False

    def wake(self) -> None:
        """Rows were committed: drain them (starts a drain task unless one is running)."""
        self._woken = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="inbound-processor")

    async def _drain(self) -> None:
        """Process rounds until this processor itself saw, under the lease, nothing left
        and no wake-up arrived meanwhile (so a commit racing the last round is not missed),
        or found the lease taken by a holder that is notified of the rows."""
        while self._woken:
            self._woken = False
            while True:
                try:
                    done = await self.process_pending()
                except Exception:
                    log.exception("inbound processor: round failed; retrying")
                    await asyncio.sleep(self._retry_delay)
                    continue
                if done.busy and self._holder_notified():
                    break
                if done.busy:
                    await asyncio.sleep(self._busy_delay)
                elif done.claimed < self._batch_size and not done.retrying:
                    break

    async def process_pending(self) -> Round:
        """One round: claim up to ``batch_size`` unprocessed webhooks and apply them.

        Optimistic: the batch is first applied without savepoints (two round trips less per
        webhook); if one webhook fails, the round is rolled back and redone with a
        SAVEPOINT per webhook, so that only the failing ones are rolled back and counted."""
        try:
            return await self._round(isolate=False)
        except _WebhookFailed:
            return await self._round(isolate=True)

    async def _round(self, *, isolate: bool) -> Round:
        async with self._session() as session, session.begin():
            claimed = await self._claim(session)  # … under the processing lease
            if not claimed and not await take_transaction_lease(
                await session.connection(), INBOUND_PROCESSING
            ):
                return Round(busy=True)
            if claimed:
                self._config.attach(session, claimed[0].config_epoch)
            payloads = [_parsed(row.body) for row in claimed]
            if not isolate:
                await self._prepare(session, payloads)
            retrying = 0
            for row, payload in zip(claimed, payloads, strict=True):
                # Applying issues no query in an optimistic round: yield, so that requests
                # and the relay (the previous round's events) are not held for the round.
                await asyncio.sleep(0)
                error = await self._apply(session, row, payload, isolate=isolate)
                if error is not None and not await self._count_failure(session, row, error):
                    retrying += 1
            if not isolate:
                await self._finish(session)
        return Round(claimed=len(claimed), retrying=retrying)

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session for one round: on the connection kept from the previous round if that
        was recent (PostgreSQL), else on one from the pool. A round that fails gives its
        kept connection back (the pool's reset finds out whether it is still alive)."""
        if self._kept is None or self._kept_in_use:  # SQLite; or a round beside the
            async with self._sessionmaker() as session:  # drain's (a direct call)
                yield session
            return
        if time.monotonic() - self._kept_since > KEEP_CONNECTION_FOR:
            await self._give_back()
        connection = await self._kept.get()
        self._kept_in_use = True
        try:
            async with self._sessionmaker(bind=connection) as session:
                yield session
        except BaseException:
            await self._give_back()
            raise
        finally:
            self._kept_in_use = False
        self._kept_since = time.monotonic()

    async def _give_back(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(Exception):
                await self._kept.close()

    async def _claim(self, session: AsyncSession) -> list[_Stored]:
        """The oldest unprocessed webhooks, up to ``batch_size``, marked processed in the same
        statement (a failure un-marks its row: :meth:`_count_failure`), in id order, with
        the current ``config_epoch``; none unless this transaction takes the processing
        lease (in the same statement)."""
        connection = await session.connection()
        if self._claim_statement is None:
            self._claim_statement = self._build_claim(connection.dialect)
        marked = await connection.execute(self._claim_statement, {"now": utcnow()})
        return sorted(marked.all(), key=lambda row: row.id)  # RETURNING has no order

    def _build_claim(self, dialect: Dialect) -> Update:
        webhooks = cast(Table, InboundWebhook.__table__)
        oldest = under_lease(
            select(webhooks.c.id)
            .where(webhooks.c.processed_at.is_(None))
            .order_by(webhooks.c.id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True),
            INBOUND_PROCESSING,
            dialect,
        )
        return (
            update(webhooks)
            .where(webhooks.c.id.in_(oldest.scalar_subquery()))
            .values(
                processed_at=bindparam("now", type_=webhooks.c.processed_at.type),
                last_error=None,
            )
            .returning(
                webhooks.c.id,
                webhooks.c.body,
                webhooks.c.received_at,
                webhooks.c.attempts,
                CURRENT_EPOCH.label("config_epoch"),
            )
        )

    @staticmethod
    async def _prepare(session: AsyncSession, payloads: list[dict[str, Any] | Exception]) -> None:
        try:
            await prepare_round(session, [p for p in payloads if isinstance(p, dict)])
        except RoundConflict as exc:
            raise _WebhookFailed from exc

    @staticmethod
    async def _finish(session: AsyncSession) -> None:
        try:
            await finish_round(session)
        except RoundConflict as exc:
            raise _WebhookFailed from exc

    @staticmethod
    async def _apply(
        session: AsyncSession, row: _Stored, payload: dict[str, Any] | Exception, *, isolate: bool
    ) -> str | None:
        """Apply one webhook; with ``isolate``, in a SAVEPOINT, returning the error if it
        failed (and was rolled back alone); without, any failure raises _WebhookFailed."""
        try:
            if isinstance(payload, Exception):
                raise payload
            if not isolate:
                await ingest(session, payload, as_utc(row.received_at))
                return None
            async with session.begin_nested():
                await ingest(session, payload, as_utc(row.received_at))
        except Exception as exc:
            if not isolate:
                raise _WebhookFailed from exc
            return error_text(exc)
        return None

    async def _count_failure(self, session: AsyncSession, row: _Stored, error: str) -> bool:
        """Record a failed attempt; whether the webhook was set aside (out of attempts)."""
        exhausted = row.attempts + 1 >= self._max_attempts
        await session.execute(
            update(InboundWebhook)
            .where(InboundWebhook.id == row.id)
            .values(
                attempts=InboundWebhook.attempts + 1,
                last_error=error,
                processed_at=utcnow() if exhausted else None,
            )
        )
        if exhausted:
            SET_ASIDE.inc()
            log.error("inbound processor: webhook %s set aside: %s", row.id, error)
        else:
            log.warning("inbound processor: webhook %s failed (will retry): %s", row.id, error)
        return exhausted

    async def pending(self) -> int:
        """How many stored webhooks are still to apply."""
        async with self._sessionmaker() as session:
            count = select(func.count()).where(InboundWebhook.processed_at.is_(None))
            return int(await session.scalar(count) or 0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._give_back()
