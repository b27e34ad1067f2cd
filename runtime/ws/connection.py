"""One agent socket's delivery state: catch-up gate, de-duplication, bounded send buffer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from runtime.ws import metrics
from runtime.ws.dedupe import SeenWindow

# Close codes: 1012 service restart (pod shutting down), 1013 try again later (slow consumer).
CLOSE_RESTART = 1012
CLOSE_SLOW = 1013

Send = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class Connection:
    """Frames offered while catching up are held back, then flushed without duplicates."""

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    keys: frozenset[str]
    cursor: int
    buffer_size: int
    seen: SeenWindow = field(init=False)
    close_code: int | None = field(default=None, init=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _replaying: bool = field(default=True, init=False)
    _pending: list[tuple[int, str, float]] = field(default_factory=list, init=False)
    _queue: asyncio.Queue[tuple[str, float | None]] = field(init=False)

    def __post_init__(self) -> None:
        self.seen = SeenWindow(self.cursor)
        self._queue = asyncio.Queue(self.buffer_size)

    def end(self, code: int) -> None:
        """Ask the socket's owner to close it with ``code`` (first reason wins)."""
        if self.close_code is None:
            self.close_code = code
        self.ended.set()

    def offer(self, seq: int, frame: str, received_at: float) -> None:
        """Queue a live event frame without blocking; overflowing ends the socket."""
        if self.ended.is_set():
            return
        if self._replaying:
            self._pending.append((seq, frame, received_at))
            if len(self._pending) > self.buffer_size:
                self._overflow()
            return
        if self.seen.first_time(seq):
            self._put(frame, received_at)

    def push_control(self, frame: str) -> None:
        """Queue a non-event frame (heartbeat) behind the events already queued."""
        self._put(frame, None)

    def go_live(self, replayed_upto: int) -> None:
        """Catch-up covered every event up to ``replayed_upto``; flush what arrived meanwhile."""
        self.seen.floor = max(self.seen.floor, replayed_upto)
        self._replaying = False
        pending, self._pending = self._pending, []
        for seq, frame, received_at in pending:
            self.offer(seq, frame, received_at)

    async def pump(self, send: Send) -> None:
        """Write queued frames to the socket until cancelled."""
        while True:
            frame, received_at = await self._queue.get()
            await send(frame)
            if received_at is not None:
                metrics.EVENTS_OUT.inc()
                metrics.SEND_LATENCY.observe(time.perf_counter() - received_at)

    def _put(self, frame: str, received_at: float | None) -> None:
        try:
            self._queue.put_nowait((frame, received_at))
        except asyncio.QueueFull:
            self._overflow()

    def _overflow(self) -> None:
        metrics.SLOW_CONSUMERS.inc()
        self.end(CLOSE_SLOW)
