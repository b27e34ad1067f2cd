"""Signed webhook delivery with Meta-like retries, run in the background from an outbox."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from runtime.whatsapp.pacing import Sleep
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign

DeliveryState = Literal["pending", "delivered", "failed", "skipped"]


@dataclass
class Attempt:
    at: float
    status_code: int | None
    error: str | None


@dataclass
class Delivery:
    """One webhook notification and every attempt to deliver it."""

    id: int
    payload: dict[str, Any]
    duplicate_of: int | None = None
    state: DeliveryState = "pending"
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def webhook_field(self) -> str:
        return str(self.payload["entry"][0]["changes"][0]["field"])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "field": self.webhook_field,
            "state": self.state,
            "duplicate_of": self.duplicate_of,
            "attempts": [vars(a) for a in self.attempts],
            "payload": self.payload,
        }


class WebhookOutbox:
    """FIFO of notifications POSTed by one background worker; failures retry later.

    A notification answered with anything but 200 (or not answered) is re-queued after the
    next of ``retry_delays``; once they are used up it is marked ``failed``.
    """

    def __init__(
        self,
        *,
        url: str | None,
        app_secret: str,
        retry_delays: tuple[float, ...],
        http: httpx.AsyncClient,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._url = url
        self._app_secret = app_secret
        self._retry_delays = retry_delays
        self._http = http
        self._sleep = sleep
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._deliveries: dict[int, Delivery] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self._deliveries.values())

    def get(self, delivery_id: int) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    def enqueue(self, payload: dict[str, Any], *, duplicate_of: int | None = None) -> Delivery:
        """Record a notification and queue it for delivery (must run inside the event loop)."""
        delivery = Delivery(len(self._deliveries) + 1, payload, duplicate_of)
        self._deliveries[delivery.id] = delivery
        if self._url is None:
            delivery.state = "skipped"
            return delivery
        self._queue.put_nowait(delivery)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())
        return delivery

    async def aclose(self) -> None:
        """Stop the worker and pending retries."""
        tasks = [*self._tasks, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            await self._attempt(await self._queue.get())

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._url is not None
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._app_secret),
        }
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
            delivery.attempts.append(Attempt(time.time(), response.status_code, None))
        except httpx.HTTPError as exc:
            delivery.attempts.append(Attempt(time.time(), None, repr(exc)))
        if delivery.attempts[-1].status_code == 200:
            delivery.state = "delivered"
        elif len(delivery.attempts) > len(self._retry_delays):
            delivery.state = "failed"
        else:
            delay = self._retry_delays[len(delivery.attempts) - 1]
            task = asyncio.get_running_loop().create_task(self._requeue(delivery, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _requeue(self, delivery: Delivery, delay: float) -> None:
        await self._sleep(delay)
        self._queue.put_nowait(delivery)
