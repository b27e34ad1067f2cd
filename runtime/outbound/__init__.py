"""Outbound: every message to a customer goes through one durable send queue.

The flow (docs/outbound.md):

1. :func:`submit` (agent text and templates) checks Meta's rules and eligibility and
   stores the message ``queued`` together with its ``send_queue`` row, in the caller's
   transaction; the API answers 202 at once. :func:`submit_batch` (campaigns) does the
   same for many templates at once, set-wise, each under an idempotency key.
2. :class:`~runtime.outbound.worker.SendWorker` (in every api process, or ``scrm
   sender-worker``) claims due rows with ``SKIP LOCKED``, paces them by limits every replica
   shares (runtime/outbound/limits.py), commits them ``sending`` and only then calls Meta.
3. Meta's answer makes the message carry its wamid, ``failed`` (a definite refusal, with
   Meta's code), queued again later (a limit or a transient error), or ``unknown`` (the
   answer was lost); status webhooks, matched by ``biz_opaque_callback_data``, close the loop.
4. :class:`~runtime.outbound.health.HealthMonitor`, beside the worker, polls the senders'
   Graph fields and delivers alert webhooks (docs/sender-health.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.clock import Clock, utc_now
from runtime.media.store import MediaStore, store_from_settings
from runtime.models import SendQueueItem
from runtime.outbound.batch import BatchRequest, Outcome, submit_batch
from runtime.outbound.health import HealthMonitor
from runtime.outbound.queue import queue_rows, resend, submit
from runtime.outbound.worker import SendWorker
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.transport import graph_http


class OutboundPipeline:
    """The send worker of one process (idle when ``settings.outbound_work`` is false)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        client: CloudAPIClient,
        settings: Settings,
        clock: Clock,
        media_store: MediaStore,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._work = settings.outbound_work
        self.health = HealthMonitor(sessionmaker, client, settings, clock)
        self.worker = SendWorker(
            sessionmaker, client, settings, clock, media_store, on_sender_health=self.health.wake
        )

    def wake(self) -> None:
        """Messages were queued: send them (no-op in a process that does not work the queue)."""
        if self._work:
            self.worker.wake()
            self.health.wake()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For a lifespan: work the queue from the start (rows left by a crash or queued by
        other processes), stop on the way out."""
        self.wake()
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        await self.worker.close()
        await self.health.close()

    async def due(self) -> int:
        """Rows that are due or being sent right now."""
        now = utc_now(self._clock)
        async with self._sessionmaker() as session:
            count = select(func.count()).where(
                (SendQueueItem.state == "sending")
                | ((SendQueueItem.state == "queued") & (SendQueueItem.not_before <= now))
            )
            return int(await session.scalar(count) or 0)

    async def settled(self, within: float = 10.0, interval: float = 0.01) -> None:
        """Wait until nothing due is left unsent (rows waiting for a later time may stay);
        TimeoutError after ``within`` seconds. For tests, benchmarks, orderly shutdowns."""
        async with asyncio.timeout(within):
            while self.worker.busy or await self.due():
                self.wake()
                await asyncio.sleep(interval)


def sender_worker_pipeline(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: CloudAPIClient,
    clock: Clock,
) -> OutboundPipeline:
    """The pipeline of ``scrm sender-worker``: it always works the queue, and reads the
    files of media sends from the store the settings name (the api's, if they agree)."""
    return OutboundPipeline(
        sessionmaker,
        client,
        settings.model_copy(update={"outbound_work": True}),
        clock,
        store_from_settings(settings, sessionmaker),
    )


async def run_sender_worker(
    settings: Settings, stop: asyncio.Event, http: httpx.AsyncClient | None = None
) -> None:
    """``scrm sender-worker``: work the send queue (no HTTP) until ``stop`` is set. Events it
    writes are published by the api processes' outbox relays (they poll). Graph calls go
    through ``http`` (default: :func:`~runtime.whatsapp.transport.graph_http`, lean
    keep-alive connections; closed here either way)."""
    from runtime.clock import SystemClock
    from runtime.db.session import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    http = http or graph_http()
    client = CloudAPIClient(settings.graph_base_url, settings.graph_api_version, http=http)
    pipeline = sender_worker_pipeline(settings, make_sessionmaker(engine), client, SystemClock())
    try:
        async with pipeline.running():
            await stop.wait()
    finally:
        await http.aclose()
        await engine.dispose()


__all__ = [
    "BatchRequest",
    "OutboundPipeline",
    "Outcome",
    "SendWorker",
    "queue_rows",
    "resend",
    "run_sender_worker",
    "sender_worker_pipeline",
    "submit",
    "submit_batch",
]
