"""The pod's side of the bus: one subscription per tenant, routing-key ref-counting, dispatch."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from runtime.bus import Bus, Subscription
from runtime.bus.codec import Batch
from runtime.domain.visibility import is_session_control
from runtime.ws import metrics
from runtime.ws.connection import CLOSE_RESTART, Connection
from runtime.ws.registry import Registry


@dataclass
class _Room:
    """One tenant on this pod; ``lock`` keeps binds/unbinds in step with the registry."""

    subscription: Subscription
    registry: Registry[Connection] = field(default_factory=Registry)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Hub:
    def __init__(self, bus: Bus, pod: str) -> None:
        self._bus = bus
        self.pod = pod
        self._rooms: dict[str, _Room] = {}
        self._rooms_lock = asyncio.Lock()
        self.closing = False

    async def attach(self, conn: Connection) -> None:
        """Register ``conn``; returns once the broker confirmed any new bindings it needs."""
        room = await self._room(conn.tenant)
        async with room.lock:
            new_keys = room.registry.add(conn, conn.keys)
            try:
                await room.subscription.bind(new_keys)
            except BaseException:
                room.registry.remove(conn, conn.keys)
                raise
        metrics.CONNECTIONS.inc()

    async def detach(self, conn: Connection) -> None:
        """Unregister ``conn``; unbinds the keys its last holder released."""
        room = self._rooms.get(conn.tenant)
        if room is None:
            return
        async with room.lock:
            gone = room.registry.remove(conn, conn.keys)
            if gone and not self.closing:
                await room.subscription.unbind(gone)
        metrics.CONNECTIONS.dec()

    async def close(self) -> None:
        """Tell every socket to close with 1012, then delete this pod's queues."""
        self.closing = True
        for room in self._rooms.values():
            for conn in room.registry.connections():
                conn.end(CLOSE_RESTART)
        for room in self._rooms.values():
            await room.subscription.close()
        self._rooms.clear()

    async def _room(self, tenant: str) -> _Room:
        async with self._rooms_lock:
            room = self._rooms.get(tenant)
            if room is None:
                subscription = await self._bus.subscribe(tenant, self.pod, self._dispatch)
                room = self._rooms[tenant] = _Room(subscription)
            return room

    def _dispatch(self, tenant: str, batch: Batch) -> None:
        """Hand each event's pre-encoded frame to the sockets that want it (no JSON work but
        for the rare session control event, which the sockets act on instead)."""
        received_at = time.perf_counter()
        metrics.BUS_MESSAGES_IN.inc()
        metrics.EVENTS_IN.inc(len(batch))
        room = self._rooms.get(tenant)
        if room is None:
            metrics.DROPPED_NOT_MINE.inc(len(batch))
            return
        targets_of = room.registry.targets
        dropped = 0
        for index, (seq, audience) in enumerate(batch.entries):
            targets = targets_of(audience)
            if not targets:
                dropped += 1
                continue
            if is_session_control(audience):  # session control: acted on, not sent
                payload = json.loads(batch.frame(index))["payload"]
                for conn in targets:
                    conn.control(seq, payload)
                continue
            frame = batch.frame(index)
            for conn in targets:
                conn.offer(seq, frame, received_at)
        if dropped:
            metrics.DROPPED_NOT_MINE.inc(dropped)
