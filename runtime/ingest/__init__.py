"""Inbound webhooks: accept, then process.

The flow (docs/realtime.md, "Inbound: accept, then process"):

1. ``POST /webhooks/whatsapp`` (:mod:`runtime.ingest.endpoint`, plain ASGI before the router)
   verifies the signature on the raw body, refuses what is not JSON or not a
   ``whatsapp_business_account`` notification (400), and hands the raw bytes
   to :class:`~runtime.ingest.accept.GroupCommitWriter`. Many concurrent requests share one
   commit (on PostgreSQL one statement on the writer's own connection); each is answered
   200 only once its row is committed.
2. After every group commit the writer wakes :class:`~runtime.ingest.processor.InboundProcessor`,
   which applies the stored webhooks in batches, in id order, under a processing lease;
   what keeps failing is set aside, never blocking the rest. On PostgreSQL the commit also
   notifies the processors of other processes (``runtime/db/notify.py``).
3. A poll (the app's lifespan runs :meth:`InboundPipeline.running`) picks up rows left by
   a crash or missed by a notification, and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from runtime.ingest.accept import GroupCommitWriter
from runtime.ingest.processor import InboundProcessor


class InboundPipeline:
    """The writer and the processor of one api process."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        linger: float = 0.002,
        batch_size: int = 500,
        max_attempts: int = 3,
        poll_interval: float = 1.0,
        process: bool = True,
        holder_notified: Callable[[], bool] = lambda: False,
    ) -> None:
        self.processor = InboundProcessor(
            sessionmaker,
            batch_size=batch_size,
            max_attempts=max_attempts,
            holder_notified=holder_notified,
        )
        self.writer = GroupCommitWriter(engine, linger=linger, max_batch=batch_size)
        if process:
            self.writer.on_commit = self.processor.wake
        self._process = process
        self._poll_interval = poll_interval

    async def accept(self, raw: bytes, received_at: datetime) -> None:
        """Make ``raw`` durable; returns once it is committed."""
        await self.writer.accept(raw, received_at)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: wake the processor every ``poll_interval`` (rows left by
        other processes or a crash, retries); on the way out finish the writes handed over."""
        poller = asyncio.create_task(self._poll(), name="inbound-poll") if self._process else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)
            await self.close()

    async def _poll(self) -> None:
        while True:
            self.processor.wake()
            await asyncio.sleep(self._poll_interval)

    async def drained(self, within: float = 10.0, interval: float = 0.005) -> None:
        """Wait until every accepted webhook is applied (or set aside); TimeoutError after
        ``within`` seconds. For tests, benchmarks and orderly shutdowns."""
        async with asyncio.timeout(within):
            await self.writer.close()
            while await self.processor.pending():
                self.processor.wake()
                await asyncio.sleep(interval)

    async def close(self) -> None:
        """Finish the writes already handed over; stop processing (the rest stays stored)."""
        await self.writer.close()
        await self.processor.close()


__all__ = ["GroupCommitWriter", "InboundPipeline", "InboundProcessor"]
