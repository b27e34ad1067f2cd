"""Which ws pod holds which routing key: the relay's view for ``pods`` publishing.

Read from the broker itself: the bindings of the tenant's routed exchange, through the
RabbitMQ management API (``GET /api/exchanges/<vhost>/<exchange>/bindings/source``), each
binding's queue name telling its pod (runtime.bus.naming). The bindings are the source of
truth for delivery, and this view only steers how a round is grouped into messages
(runtime.bus.routing, ``pods``): a view that is stale (refreshed every ``interval`` seconds)
or missing (the API unreachable) costs extra copies, never a loss or a reorder.

A publish never waits for a read: the first publish to a tenant (or the first after it was
idle for ``forget_after`` seconds) goes out with an empty view (one group, cut like ``cc``)
and starts the reads, which then run in the background every ``interval`` seconds for the
tenants published to recently; the last good view stays in use while a read fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from typing import Any, Protocol

import httpx

from runtime.bus.management import management_api
from runtime.bus.naming import exchange_name, parse_queue_name
from runtime.bus.routing import KeyHolders

log = logging.getLogger(__name__)
_UNKNOWN: KeyHolders = {}


class PodMap(Protocol):
    def holders(self, tenant: str) -> KeyHolders:
        """Routing key -> pods bound to it in ``tenant``, as last seen (without waiting)."""

    async def close(self) -> None: ...


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names (``/`` when its path is empty)."""
    path = urllib.parse.urlsplit(amqp_url).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"


def holders_from_bindings(tenant: str, bindings: list[dict[str, Any]]) -> KeyHolders:
    """The key -> pods view of a routed exchange's bindings (other queues are ignored)."""
    found: dict[str, set[str]] = {}
    for binding in bindings:
        owner = parse_queue_name(str(binding.get("destination", "")))
        if binding.get("destination_type") == "queue" and owner and owner[0] == tenant:
            found.setdefault(str(binding.get("routing_key", "")), set()).add(owner[1])
    return {key: frozenset(pods) for key, pods in found.items()}


class ManagementPodMap:
    """Reads and refreshes the tenants' bindings from the management API."""

    def __init__(
        self,
        management_url: str,
        vhost: str,
        *,
        interval: float = 1.0,
        forget_after: float = 60.0,
    ) -> None:
        api = management_api(management_url)
        # credentials go to the client's auth, never into a URL an error message may show
        vhost_path = urllib.parse.quote(vhost, safe="")
        self._base = f"{api.url}/api/exchanges/{vhost_path}"
        self._interval = interval
        self._forget_after = forget_after
        # made now, not at the first read: building its TLS context takes a while and would
        # stall the relay's first round
        self._client = httpx.AsyncClient(auth=api.auth, timeout=interval + 1)
        self._views: dict[str, KeyHolders] = {}
        self._used: dict[str, float] = {}  # tenant -> last publish (monotonic)
        self._refresher: asyncio.Task[None] | None = None

    def holders(self, tenant: str) -> KeyHolders:
        self._used[tenant] = time.monotonic()
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh(), name="pod-map-refresh")
        return self._views.get(tenant, _UNKNOWN)

    async def refresh(self, tenant: str) -> KeyHolders:
        """Read ``tenant``'s bindings now (and keep them fresh from then on)."""
        self.holders(tenant)
        await self._read(tenant)
        return self._views.get(tenant, _UNKNOWN)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self._client.aclose()

    async def _refresh(self) -> None:
        while True:
            now = time.monotonic()
            for tenant, used in list(self._used.items()):
                if now - used > self._forget_after:
                    del self._used[tenant]
                    self._views.pop(tenant, None)
                else:
                    await self._read(tenant)
            await asyncio.sleep(self._interval)

    async def _read(self, tenant: str) -> None:
        """Replace ``tenant``'s view with the broker's bindings; keep it on failure."""
        url = f"{self._base}/{exchange_name(tenant, 'routed')}/bindings/source"
        try:
            response = await self._client.get(url)
            if response.status_code == 404:  # no exchange yet: nobody bound
                self._views[tenant] = {}
                return
            response.raise_for_status()
            self._views[tenant] = holders_from_bindings(tenant, response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("pod map: cannot read %s's bindings (%s); keeping the last view",
                        tenant, type(exc).__name__)  # fmt: skip
