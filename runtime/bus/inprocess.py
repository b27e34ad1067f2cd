"""The embedded bus: api and ws in one process, no broker."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runtime.bus.base import BusEvent, Handler
from runtime.bus.codec import Batch
from runtime.bus.routing import Mode


class InProcessSubscription:
    def __init__(self, bus: InProcessBus, tenant: str, handler: Handler) -> None:
        self._bus = bus
        self.tenant = tenant
        self.handler = handler
        self.keys: set[str] = set()

    async def bind(self, keys: Iterable[str]) -> None:
        self.keys.update(keys)

    async def unbind(self, keys: Iterable[str]) -> None:
        self.keys.difference_update(keys)

    async def close(self) -> None:
        self._bus.remove(self)


class InProcessBus:
    """Delivers synchronously to the subscriptions of the tenant, filtered like the broker."""

    def __init__(self, mode: Mode = "fanout") -> None:
        self.mode = mode
        self._subs: dict[str, list[InProcessSubscription]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._subs.clear()

    async def publish(self, tenant: str, events: Sequence[BusEvent]) -> None:
        for sub in list(self._subs.get(tenant, ())):
            mine = (
                list(events)
                if self.mode == "fanout"
                else [e for e in events if sub.keys.intersection(e.audience)]
            )
            if mine:
                sub.handler(tenant, Batch.of(mine))

    async def subscribe(self, tenant: str, pod: str, handler: Handler) -> InProcessSubscription:
        sub = InProcessSubscription(self, tenant, handler)
        self._subs.setdefault(tenant, []).append(sub)
        return sub

    def remove(self, sub: InProcessSubscription) -> None:
        subs = self._subs.get(sub.tenant, [])
        if sub in subs:
            subs.remove(sub)
