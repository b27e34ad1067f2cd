"""One agent socket's delivery state: catch-up gate, de-duplication, bounded send buffer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.ws import metrics
from runtime.ws.dedupe import SeenWindow

# Close codes: 1012 service restart (pod shutting down), 1013 try again later (slow consumer),
# 4401 the session ended or the access token expired / was refused (refresh, then reconnect),
# 4409 the agent's permissions or teams changed (reconnect at once with the cursor).
CLOSE_RESTART = 1012
CLOSE_SLOW = 1013
CLOSE_SESSION = 4401
CLOSE_RESCOPE = 4409

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
    sid: uuid.UUID | None = None  # the sign-in (refresh family) of the token that admitted it
    expires_at: datetime | None = None  # that token's expiry; None: never (tests)
    admitted_at_seq: int = 0  # session control events up to this cursor predate the admission
    seen: SeenWindow = field(init=False)
    close_code: int | None = field(default=None, init=False)
    close_reason: str = field(default="", init=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _replaying: bool = field(default=True, init=False)
    _pending: list[tuple[int, str, float]] = field(default_factory=list, init=False)
    _queue: asyncio.Queue[tuple[str, float | None]] = field(init=False)

    def __post_init__(self) -> None:
        self.seen = SeenWindow(self.cursor)
        self._queue = asyncio.Queue(self.buffer_size)

    def end(self, code: int, reason: str = "") -> None:
        """Ask the socket's owner to close it with ``code`` (first reason wins)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.ended.set()

    def control(self, seq: int, payload: dict[str, Any]) -> None:
        """Act on a ``session.control`` event of this agent (it is never sent to the client):
        ``revoke`` (of every sign-in, or of this socket's ``sid``) closes with 4401,
        ``rescope`` with 4409. Events from before this socket was admitted are ignored."""
        if seq <= self.admitted_at_seq:
            return
        action = payload.get("action")
        if action == "revoke" and payload.get("sid") in (None, str(self.sid)):
            self.end(CLOSE_SESSION, "session ended")
        elif action == "rescope":
            self.end(CLOSE_RESCOPE, "reconnect")

    def reauthorize(self, sid: uuid.UUID | None, expires_at: datetime | None) -> None:
        """A newer access token of the agent was presented on the socket."""
        self.sid, self.expires_at = sid, expires_at

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
        """Queue a non-event frame (heartbeat, auth.ok) behind the events already queued."""
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
