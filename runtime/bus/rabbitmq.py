"""RabbitMQ bus: per-tenant exchange, per-(tenant, pod) queue, publisher confirms, batching."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.exceptions import ChannelInvalidStateError

from runtime.bus.base import BusEvent, BusUnavailable, Handler
from runtime.bus.codec import Batch, decode_batch, encode_batch, encode_frame_bytes
from runtime.bus.naming import exchange_name, queue_name
from runtime.bus.podmap import PodMap
from runtime.bus.routing import Mode, Reassembler, RoutedPublish, every_key, split_batch

log = logging.getLogger(__name__)

# The connection or channel is down (the robust connection is reconnecting): not the events.
_OUTAGE = (ChannelInvalidStateError, ConnectionError, TimeoutError)
_EXCHANGE_TYPES = {"fanout": aio_pika.ExchangeType.FANOUT, "routed": aio_pika.ExchangeType.DIRECT}
# AMQP headers of a routed publish that took several messages (see routing.Reassembler):
# its parts carry PART = the publish's id, then its end marker (no events) carries END = id.
PART, END = "x-scrm-part", "x-scrm-end"


class RabbitSubscription:
    """One pod's durable queue for one tenant; bindings survive reconnects (robust queue)."""

    def __init__(
        self, queue: AbstractQueue, exchange: AbstractExchange, mode: Mode, consumer_tag: str
    ) -> None:
        self._queue = queue
        self._exchange = exchange
        self._mode = mode
        self._tag = consumer_tag

    async def bind(self, keys: Iterable[str]) -> None:
        if self._mode == "routed":
            for key in keys:
                await self._queue.bind(self._exchange, key)

    async def unbind(self, keys: Iterable[str]) -> None:
        if self._mode == "routed":
            for key in keys:
                await self._queue.unbind(self._exchange, key)

    async def close(self) -> None:
        await self._queue.cancel(self._tag)
        await self._queue.delete(if_unused=False, if_empty=False)


class RabbitBus:
    """aio-pika robust connection; ``publish`` returns once every message is confirmed."""

    def __init__(
        self,
        url: str,
        mode: Mode,
        *,
        connection_name: str,
        max_events_per_message: int = 200,
        queue_expires_ms: int = 30 * 60 * 1000,
        prefetch: int = 64,
        reconnect_interval: float = 1.0,
        routed_publish: RoutedPublish = "cc",
        pod_map: PodMap | None = None,
    ) -> None:
        """``pod_map`` steers ``pods`` publishing (without one every key is unknown: a
        round goes out as one group, cut like ``cc``)."""
        self.mode = mode
        self.routed_publish = routed_publish
        self.pod_map = pod_map if mode == "routed" and routed_publish == "pods" else None
        self._url = url
        self._name = connection_name
        self._max_per_message = max_events_per_message
        self._queue_expires_ms = queue_expires_ms
        self._prefetch = prefetch
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._channel_lock = asyncio.Lock()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._url,
            client_properties={"connection_name": self._name},
            reconnect_interval=self._reconnect_interval,
        )

    async def close(self) -> None:
        if self.pod_map is not None:
            await self.pod_map.close()
        if self._connection is not None:
            await self._connection.close()
        self._connection = None

    async def _channels(self) -> tuple[AbstractChannel, AbstractChannel]:
        """The publishing (confirming) and consuming channels, opened on first use."""
        async with self._channel_lock:
            if self._connection is None:
                raise RuntimeError("RabbitBus.start() was not awaited")
            if self._publish_channel is None:
                self._publish_channel = await self._connection.channel(publisher_confirms=True)
            if self._consume_channel is None:
                self._consume_channel = await self._connection.channel()
                await self._consume_channel.set_qos(prefetch_count=self._prefetch)
            return self._publish_channel, self._consume_channel

    async def _exchange(self, channel: AbstractChannel, tenant: str) -> AbstractExchange:
        return await channel.declare_exchange(
            exchange_name(tenant, self.mode), _EXCHANGE_TYPES[self.mode], durable=True
        )

    async def publish(self, tenant: str, events: Sequence[BusEvent]) -> None:
        """Raises :class:`BusUnavailable` when the connection or channel is down."""
        try:
            await self._publish(tenant, events)
        except _OUTAGE as exc:
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _publish(self, tenant: str, events: Sequence[BusEvent]) -> None:
        exchange = self._exchanges.get(tenant)
        if exchange is None:
            publish_channel, _ = await self._channels()
            exchange = self._exchanges[tenant] = await self._exchange(publish_channel, tenant)
        holders = self.pod_map.holders(tenant) if self.pod_map is not None else None
        messages = split_batch(
            events, self.mode, self._max_per_message, self.routed_publish, holders
        )
        frames = {e.seq: encode_frame_bytes(e) for e in events}  # each event encoded once
        sends = [
            (keys, encode_batch(chunk, [frames[e.seq] for e in chunk])) for keys, chunk in messages
        ]
        headers: list[dict[str, Any]] = [{}] * len(sends)
        if self.mode == "routed" and self.routed_publish != "cc" and len(sends) > 1:
            # Several messages may reach one queue: parts, reassembled there after the end
            # marker (to every key of the round, so it follows the parts into every queue).
            publish_id = uuid.uuid4().hex
            sends.append((every_key(messages), encode_batch([])))
            headers = [{PART: publish_id}] * len(messages) + [{END: publish_id}]
        # gather starts the publishes in list order and aiormq writes a channel's publishes in
        # call order (one FIFO lock per channel), so the marker is written after its parts.
        await asyncio.gather(
            *(
                self._send(exchange, keys, body, extra)
                for (keys, body), extra in zip(sends, headers, strict=True)
            )
        )

    @staticmethod
    async def _send(
        exchange: AbstractExchange, keys: list[str], body: bytes, headers: dict[str, Any]
    ) -> None:
        """Publish ``body`` to ``keys``: the first as the routing key, the rest in the ``CC``
        header (sender-selected distribution: at most one copy per queue)."""
        if len(keys) > 1:
            headers = {**headers, "CC": list[Any](keys[1:])}
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/vnd.scrm.batch",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers=headers or None,
            ),
            routing_key=keys[0],
            mandatory=False,
        )

    async def subscribe(self, tenant: str, pod: str, handler: Handler) -> RabbitSubscription:
        _, channel = await self._channels()
        exchange = await self._exchange(channel, tenant)
        queue = await channel.declare_queue(
            queue_name(tenant, pod),
            durable=True,
            arguments={"x-expires": self._queue_expires_ms},
        )
        if self.mode == "fanout":
            await queue.bind(exchange, "")

        reassembler = Reassembler()

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                batch = decode_batch(message.body)
            except (ValueError, TypeError):
                log.exception("dropping undecodable message on %s", queue.name)
                await message.reject()
                return
            for ready in _received(reassembler, message.headers or {}, batch):
                handler(tenant, ready)
            await message.ack()

        tag = await queue.consume(on_message)
        return RabbitSubscription(queue, exchange, self.mode, tag)


def _received(reassembler: Reassembler, headers: dict[str, Any], batch: Batch) -> list[Batch]:
    """The batches a received message makes deliverable (none while a publish is partial)."""
    if PART in headers:
        return reassembler.part(str(headers[PART]), batch)
    if END in headers:
        return reassembler.end(str(headers[END]))
    return [batch]
