"""How a batch of events is cut into broker messages in each delivery mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from runtime.bus.base import BusEvent

Mode = Literal["fanout", "routed"]
# routed publishing: "cc" (default) one message per chunk, routed to every key of the chunk
# with RabbitMQ's sender-selected distribution (CC header); "per-key" one message per key.
RoutedPublish = Literal["cc", "per-key"]


def _chunks(events: list[BusEvent], size: int) -> list[list[BusEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def split_batch(
    events: Sequence[BusEvent],
    mode: Mode,
    max_per_message: int,
    routed_publish: RoutedPublish = "cc",
) -> list[tuple[list[str], list[BusEvent]]]:
    """``(routing keys, events)`` per message, events in cursor order within a message.

    fanout: the batch in order, chunked, routing key ``""``.
    routed, ``cc``: the batch in order, chunked; each message carries every routing key of
    its events (the first as the routing key, the rest in the ``CC`` header), so the broker
    delivers it at most once to each queue bound to any of them. A pod then skips the events
    of the message that are for nobody it holds.
    routed, ``per-key``: one message per routing key holding the events addressed to it (an
    event with several keys travels once per key; consumers de-duplicate by ``seq``).
    """
    if mode == "fanout":
        return [([""], chunk) for chunk in _chunks(list(events), max_per_message)]
    if routed_publish == "cc":
        messages = []
        for chunk in _chunks(list(events), max_per_message):
            keys = sorted({key for event in chunk for key in event.audience})
            if keys:
                messages.append((keys, chunk))
        return messages
    by_key: dict[str, list[BusEvent]] = {}
    for event in events:
        for key in event.audience:
            by_key.setdefault(key, []).append(event)
    return [
        ([key], chunk) for key, evs in by_key.items() for chunk in _chunks(evs, max_per_message)
    ]
