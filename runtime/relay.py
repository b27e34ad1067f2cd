"""The outbox relay: publishes committed, unpublished events in id order and marks them.

Several api processes may each run one: on PostgreSQL rows are claimed with
``FOR UPDATE SKIP LOCKED``; SQLite (single process) ignores the clause. A batch is marked
published only after the bus confirmed it, so a failure means a retry (consumers drop the
duplicates by ``seq``), never a loss. Wake it with :meth:`OutboxRelay.wake` (the commit hook
does this whenever a transaction that wrote an event commits); it also polls as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from runtime.bus import Bus, BusEvent
from runtime.db.base import utcnow
from runtime.models import Event, Tenant

log = logging.getLogger(__name__)

_WROTE_EVENTS = "scrm.outbox.wrote_events"


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        retry_delay: float = 0.5,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Hint that events were committed; safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events; returns how many were published."""
        async with self._sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        Event.id, Event.seq, Event.type, Event.payload, Event.audience, Tenant.slug
                    )
                    .join(Tenant, Tenant.id == Event.tenant_id)
                    .where(Event.published_at.is_(None))
                    .order_by(Event.id)
                    .limit(self._batch_size)
                    .with_for_update(of=Event, skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            by_tenant: dict[str, list[BusEvent]] = {}
            for _id, seq, type_, payload, audience, slug in rows:
                bus_event = BusEvent(seq, type_, payload, tuple(audience))
                by_tenant.setdefault(slug, []).append(bus_event)
            await asyncio.gather(*(self._bus.publish(t, evs) for t, evs in by_tenant.items()))
            await session.execute(
                update(Event)
                .where(Event.id.in_([row[0] for row in rows]))
                .values(published_at=utcnow())
            )
        return len(rows)

    async def run(self) -> None:
        """Publish forever: immediately while there is a backlog, else on wake-up or poll."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            try:
                published = await self.publish_pending()
            except Exception:
                log.exception("outbox relay: publish failed; retrying")
                await asyncio.sleep(self._retry_delay)
                continue
            if published < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    @contextlib.asynccontextmanager
    async def running(self, session_class: type[Session] = Session) -> AsyncIterator[None]:
        """Run the relay in a task and wake it after every commit that wrote events.

        ``session_class`` is the sync session class behind the app's async sessions.
        """
        hooks: dict[str, Callable[..., Any]] = {
            "after_flush": self._note_events,
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
            for name, fn in hooks.items():
                event.remove(session_class, name, fn)

    @staticmethod
    def _note_events(session: Session, _context: Any) -> None:
        if any(isinstance(obj, Event) for obj in session.new):
            session.info[_WROTE_EVENTS] = True

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_WROTE_EVENTS, False):
            self.wake()

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(_WROTE_EVENTS, None)
