"""Campaigns: an audience, expanded into recipients, handed to the send queue at a pace.

The flow (docs/campaigns.md):

1. Launch (``POST /api/campaigns/{id}/launch``) moves a draft to ``scheduled``; when its
   start time has come, :func:`~runtime.campaigns.launcher.expand` turns the audience into
   one ``campaign_recipients`` row per contact with one ``INSERT … SELECT``, and it runs.
2. :class:`CampaignPipeline` (every api process; one feeder per campaign at a time, by row
   lock) runs :func:`~runtime.campaigns.feeder.feed` rounds: due recipients go through
   ``runtime.outbound.submit`` (Meta's rules, eligibility, the durable queue) at the rate
   cap, inside the send window, under warm-up budgets, each in the transaction that marks
   it ``queued``; auto-pause on a bad number or a high failure rate.
3. Results read the messages' statuses (sent/delivered/read/failed, replies) by join.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.campaigns.feeder import feed, running_ids, start_due
from runtime.clock import Clock, utc_now
from runtime.settings import Settings

log = logging.getLogger(__name__)


class CampaignPipeline:
    """The feeder of one process (idle when ``settings.campaign_work`` is false)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        on_queued: Callable[[], None],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock
        self._on_queued = on_queued
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """A campaign was launched or resumed: feed now rather than at the next poll."""
        self._wakeup.set()

    async def feed_round(self) -> int:
        """Start due campaigns, then one round of each running one; how many were queued."""
        async with self._sessionmaker() as session:
            await start_due(session, utc_now(self._clock))
            await session.commit()
            ids = await running_ids(session)
        queued = 0
        for campaign_id in ids:
            async with self._sessionmaker() as session:
                queued += await feed(session, self._settings, campaign_id, utc_now(self._clock))
                await session.commit()
        if queued:
            self._on_queued()
        return queued

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For a lifespan: feed every ``campaign_poll_seconds`` (or when woken)."""
        if self._settings.campaign_work:
            self._task = asyncio.create_task(self._run(), name="campaign-feeder")
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        """Let the round in progress finish (cancelling one mid-transaction would strand its
        connection), then stop."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                queued = await self.feed_round()
            except Exception:  # a bad round must not stop the feeder; the next one retries
                log.exception("campaign feed round failed")
                queued = 0
            if queued or self._stopping:
                continue  # more may be due right away (the rate cap bounds each round)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.campaign_poll_seconds):
                    await self._wakeup.wait()
            self._wakeup.clear()


__all__ = ["CampaignPipeline"]
