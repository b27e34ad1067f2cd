"""The outbox relay: publishes committed, unpublished events in id order and marks them.

Several api processes may each run one; on PostgreSQL they take turns under a publishing
lease (a transaction-scoped advisory lock), so a tenant's events reach the pods in cursor
order: two relays publishing neighbouring batches at once would let a later batch overtake
an earlier one, and a client that already saw the higher ``seq`` drops the lower ones as
seen (the web client does) — lost to it. SQLite (single process) needs no lease. A batch is
marked published only after the bus confirmed it, so a failure means a retry (consumers drop the
duplicates by ``seq``), never a loss. Wake it with :meth:`OutboxRelay.wake` (the commit hook
does this whenever a transaction that wrote an event commits); it also polls as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import Counter
from sqlalchemy import Text, Update, bindparam, cast, event, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from runtime.bus import Bus, BusEvent, BusUnavailable
from runtime.bus.codec import ENCODE_ERRORS, encode_frame_bytes
from runtime.db.base import error_text, utcnow
from runtime.db.leases import OUTBOX_PUBLISHING, take_transaction_lease, under_lease
from runtime.db.session import DATABASE_ERRORS, OwnedConnection
from runtime.domain.events import WROTE_EVENTS
from runtime.models import DeadLetter, Event, Tenant
from runtime.waiting import wait_set

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "scrm_outbox_dead_letters",
    "Events set aside by the outbox relay (reason: encode or deliver)",
    ["reason"],
)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """An event claimed by this round: its row id, tenant and earlier failed attempts."""

    id: int
    tenant_id: uuid.UUID
    attempts: int
    event: BusEvent


# What a round reads of each claimed event: payload and audience as their JSON text (cast in
# SQL), decoded by orjson here rather than by the driver (the standard library's json).
_CLAIMED = (
    Event.id, Event.seq, Event.type, cast(Event.payload, Text).label("payload_json"),
    cast(Event.audience, Text).label("audience_json"), Event.tenant_id, Event.publish_attempts,
)  # fmt: skip


def _decoded(seq: int, type_: str, payload: str, audience: str) -> BusEvent | str:
    """The event carrying its encoded frame, or why it cannot be decoded or encoded (each
    event is tried on its own, so one poison payload does not sink its batch)."""
    try:
        event = BusEvent(seq, type_, orjson.loads(payload), tuple(orjson.loads(audience)))
        return BusEvent(event.seq, event.type, event.payload, event.audience,
                        encode_frame_bytes(event))  # fmt: skip
    except ENCODE_ERRORS as exc:  # orjson's JSONDecodeError is a ValueError
        return error_text(exc)


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        retry_delay: float = 0.5,
        busy_delay: float = 0.005,
        linger: float = 0.003,
        max_attempts: int = 3,
        holder_notified: Callable[[], bool] = lambda: False,
    ) -> None:
        self._engine: AsyncEngine = sessionmaker.kw["bind"]
        # run()'s rounds keep one connection (PostgreSQL; SQLite's pool has one to share)
        self._own = (
            OwnedConnection(self._engine) if self._engine.dialect.name == "postgresql" else None
        )
        self._claim: Update | None = None
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._busy_delay = busy_delay  # another relay holds the lease: try again this soon
        # ... unless that holder is told of new events (runtime/db/notify.py): then wait
        self._holder_notified = holder_notified
        # Under load, wait this long after a wake-up so that the commits of concurrent
        # requests share one round (one UPDATE/commit and one AMQP message) instead of one
        # each. Under load = the last round was woken by more than one commit; under light
        # load nobody would join, so the round starts at once.
        self._linger = linger
        self._max_attempts = max_attempts
        self._wakeup = asyncio.Event()
        self._wakeups = 0  # commits that woke the relay since the current round started
        self._slugs: dict[uuid.UUID, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL server process of :meth:`run`'s own connection, if one is open."""
        return None if self._own is None else self._own.backend_pid

    def wake(self) -> None:
        """Hint that events were committed; safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        self._wakeups += 1
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events; returns how many were handled (0 also
        when another relay holds the publishing lease). A one-off round on a connection from
        the pool (:meth:`run` keeps a connection of its own)."""
        async with self._engine.connect() as connection:
            return await self._publish_round(connection) or 0

    async def _own_round(self) -> int | None:
        """A round of :meth:`run`: on PostgreSQL on the relay's own connection, which a
        database error discards (the next round opens another)."""
        if self._own is None:
            return await self.publish_pending()
        try:
            return await self._publish_round(await self._own.get())
        except DATABASE_ERRORS:
            await self._own.drop()
            raise

    def _claim_statement(self, dialect: Dialect) -> Update:
        """Claims and marks a batch (built once: the statement and its cache key)."""
        if self._claim is None:
            pending = (
                select(Event.id)
                .where(Event.published_at.is_(None))
                .order_by(Event.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            )
            leased = under_lease(pending, OUTBOX_PUBLISHING, dialect)
            self._claim = (
                update(Event)
                .where(Event.id.in_(leased.scalar_subquery()))
                .values(published_at=bindparam("now"))
                .returning(*_CLAIMED)
            )
        return self._claim

    async def _publish_round(self, connection: AsyncConnection) -> int | None:
        """One round under the publishing lease; None if another relay holds it.

        One statement claims and marks the batch (``UPDATE … WHERE id IN (SELECT … FOR UPDATE
        SKIP LOCKED) RETURNING …``); the marks only become visible if the bus confirmed the
        messages before the commit, otherwise the transaction rolls back and nothing is lost.
        A poison event never stalls the outbox: one that cannot be encoded is set aside at
        once; when a tenant's publish fails its events are retried one by one, and one that
        keeps failing while others get through is set aside after ``max_attempts`` rounds.
        """
        async with connection.begin():  # Core: no ORM bookkeeping per round
            claim = self._claim_statement(connection.dialect)
            result = (await connection.execute(claim, {"now": utcnow()})).all()
            if not result:
                return 0 if await take_transaction_lease(connection, OUTBOX_PUBLISHING) else None
            rows = sorted(result, key=lambda row: row[0])  # RETURNING has no order: use ids
            by_tenant: dict[str, list[_Claimed]] = {}
            unencodable: list[tuple[_Claimed, str]] = []
            for id_, seq, type_, payload, audience, tenant_id, attempts in rows:
                slug = self._slugs.get(tenant_id) or await self._slug(connection, tenant_id)
                encoded = _decoded(seq, type_, payload, audience)
                if isinstance(encoded, str):
                    poison = BusEvent(seq, type_, {}, ())  # what its dead letter records
                    unencodable.append((_Claimed(id_, tenant_id, attempts, poison), encoded))
                else:
                    by_tenant.setdefault(slug, []).append(
                        _Claimed(id_, tenant_id, attempts, encoded)
                    )
            outcomes = await asyncio.gather(
                *(self._publish(slug, claimed) for slug, claimed in by_tenant.items())
            )
            failed = [failure for failures, _ in outcomes for failure in failures]
            held = [one for _, kept in outcomes for one in kept]
            left = failed + held
            if left and len(left) == sum(map(len, by_tenant.values())) and not unencodable:
                raise left[0][1]  # nothing got through: the bus is down, roll back and retry
            await self._set_aside(connection, unencodable, "encode")
            await self._count_failures(connection, failed)
            await self._unmark(connection, [one for one, _ in held])
        return len(rows)

    async def _publish(
        self, slug: str, claimed: list[_Claimed]
    ) -> tuple[list[tuple[_Claimed, Exception]], list[tuple[_Claimed, Exception]]]:
        """Publish one tenant's events; on failure retry them one by one (in order) to find
        the culprit. Returns the events that failed alone, with their errors, and those held
        back by an outage (``BusUnavailable``): from the first event the bus could not take
        on, none is published this round, so that no later event overtakes it."""
        try:
            await self._bus.publish(slug, [c.event for c in claimed])
            return [], []
        except BusUnavailable as outage:
            return [], [(one, outage) for one in claimed]
        except Exception as batch_error:
            if len(claimed) == 1:
                return [(claimed[0], batch_error)], []
        failures: list[tuple[_Claimed, Exception]] = []
        for index, one in enumerate(claimed):
            try:
                await self._bus.publish(slug, [one.event])
            except BusUnavailable as outage:
                return failures, [(rest, outage) for rest in claimed[index:]]
            except Exception as error:
                failures.append((one, error))
        return failures, []

    async def _unmark(self, connection: AsyncConnection, held: list[_Claimed]) -> None:
        """Events held back by an outage go back to the outbox, no attempt counted."""
        if held:
            await connection.execute(
                update(Event).where(Event.id.in_([c.id for c in held])).values(published_at=None)
            )

    async def _count_failures(
        self, connection: AsyncConnection, failed: list[tuple[_Claimed, Exception]]
    ) -> None:
        """Undo the mark of events that failed alone; set aside those out of attempts."""
        exhausted = [(c, error_text(e)) for c, e in failed if c.attempts + 1 >= self._max_attempts]
        retry = [c.id for c, _ in failed if c.attempts + 1 < self._max_attempts]
        if retry:
            await connection.execute(
                update(Event)
                .where(Event.id.in_(retry))
                .values(published_at=None, publish_attempts=Event.publish_attempts + 1)
            )
        await self._set_aside(connection, exhausted, "deliver")

    async def _set_aside(
        self, connection: AsyncConnection, poison: list[tuple[_Claimed, str]], reason: str
    ) -> None:
        """Dead-letter events (they stay marked published): a row, a metric and a log line."""
        if not poison:
            return
        now = utcnow()
        await connection.execute(
            update(Event)
            .where(Event.id.in_([c.id for c, _ in poison]))
            .values(publish_attempts=Event.publish_attempts + 1)
        )
        await connection.execute(
            insert(DeadLetter),
            [
                {
                    "tenant_id": c.tenant_id,
                    "event_id": c.id,
                    "seq": c.event.seq,
                    "type": c.event.type,
                    "error": error,
                    "attempts": c.attempts + 1,
                    "created_at": now,
                }
                for c, error in poison
            ],
        )
        for c, error in poison:
            DEAD_LETTERS.labels(reason).inc()
            log.error(
                "outbox relay: event %s (tenant %s, seq %s, type %s) set aside, cannot %s: %s",
                c.id, c.tenant_id, c.event.seq, c.event.type, reason, error,
            )  # fmt: skip

    async def _slug(self, connection: AsyncConnection, tenant_id: uuid.UUID) -> str:
        """A tenant's slug (immutable; cached for the life of the relay)."""
        slug = (
            await connection.execute(select(Tenant.slug).where(Tenant.id == tenant_id))
        ).scalar_one()
        self._slugs[tenant_id] = slug
        return str(slug)

    async def run(self) -> None:
        """Publish forever: immediately while there is a backlog, else on wake-up or poll."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            under_load, self._wakeups = self._wakeups > 1, 0
            try:
                published = await self._own_round()
            except Exception:
                log.exception("outbox relay: publish failed; retrying")
                await asyncio.sleep(self._retry_delay)
                continue
            if published is None and not self._holder_notified():
                await asyncio.sleep(self._busy_delay)  # the holder may miss what woke us
            elif published is None or published < self._batch_size:
                woken = await wait_set(self._wakeup, self._poll_interval)
                if woken and under_load and self._linger > 0:
                    await asyncio.sleep(self._linger)

    @contextlib.asynccontextmanager
    async def running(self, session_class: type[Session] = Session) -> AsyncIterator[None]:
        """Run the relay in a task and wake it after every commit that wrote events.

        ``session_class`` is the sync session class behind the app's async sessions.
        """
        hooks: dict[str, Callable[..., Any]] = {
            "after_commit": self._after_commit,
            "after_rollback": self._after_rollback,
        }
        for name, fn in hooks.items():
            event.listen(session_class, name, fn)
        task = asyncio.create_task(self.run(), name="outbox-relay")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._own is not None:
                await self._own.close()
            for name, fn in hooks.items():
                event.remove(session_class, name, fn)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(WROTE_EVENTS, False):
            self.wake()

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(WROTE_EVENTS, None)
