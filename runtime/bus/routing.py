"""How a batch of events is cut into broker messages in each delivery mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from runtime.bus.base import BusEvent

Mode = Literal["fanout", "routed"]


def _chunks(events: list[BusEvent], size: int) -> list[list[BusEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def split_batch(
    events: Sequence[BusEvent], mode: Mode, max_per_message: int
) -> list[tuple[str, list[BusEvent]]]:
    """``(routing key, events)`` per message.

    fanout: the batch in order, chunked, with an empty routing key.
    routed: one message per routing key holding the events addressed to it (an event with
    several keys travels once per key; consumers de-duplicate by ``seq``).
    """
    if mode == "fanout":
        return [("", chunk) for chunk in _chunks(list(events), max_per_message)]
    by_key: dict[str, list[BusEvent]] = {}
    for event in events:
        for key in event.audience:
            by_key.setdefault(key, []).append(event)
    return [(key, chunk) for key, evs in by_key.items() for chunk in _chunks(evs, max_per_message)]
