"""How a batch of events is cut into broker messages in each delivery mode, and put back
together on the receiving side."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from runtime.bus.base import BusEvent
from runtime.bus.codec import Batch

Mode = Literal["fanout", "routed"]
# How routed rounds are cut: "cc" the round in cursor order, one message per chunk routed to
# every key of its events (fewest messages, hence fewest broker deliveries; a pod holding any
# of a chunk's keys receives all of it and skips the rest); "audience" one message per
# distinct audience (a pod receives only its events; a round of several messages is
# reassembled on the pod); "pods" one message per set of pods that need the events (as the
# relay last saw the broker's bindings: see runtime.bus.podmap), reassembled like "audience".
RoutedPublish = Literal["audience", "cc", "pods"]
# Routing key -> the pods whose queues are bound to it, as last seen (may be stale or partial:
# that costs extra copies, never a loss, since the broker routes by its bindings alone).
KeyHolders = Mapping[str, frozenset[str]]
_NO_POD: frozenset[str] = frozenset()


def _keys_of(events: Sequence[BusEvent]) -> list[str]:
    return sorted({key for event in events for key in event.audience})


def _chunks(events: list[BusEvent], size: int) -> list[list[BusEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def split_batch(
    events: Sequence[BusEvent],
    mode: Mode,
    max_per_message: int,
    routed_publish: RoutedPublish = "cc",
    holders: KeyHolders | None = None,
) -> list[tuple[list[str], list[BusEvent]]]:
    """``(routing keys, events)`` per message, events in cursor order within a message.

    fanout: the batch in order, chunked, routing key ``""``.
    routed, ``cc``: the batch in order, chunked; each message carries every key of its events
    (the first as the routing key, the rest in the ``CC`` header): every queue gets its
    messages in cursor order.
    routed, ``audience``: one message per distinct audience (its sorted keys, sent the same
    way), chunked; messages in the order their audience first appears. The broker delivers a
    message at most once to each queue bound to any of its keys, so a pod receives exactly the
    events it has a socket for, each once. A pod holding several audiences gets the events in
    several messages: see :class:`Reassembler`.
    routed, ``pods``: see :func:`_by_pods`.
    """
    if mode == "fanout":
        return [([""], chunk) for chunk in _chunks(list(events), max_per_message)]
    if routed_publish == "cc":
        messages = [(_keys_of(chunk), chunk) for chunk in _chunks(list(events), max_per_message)]
        return [(keys, chunk) for keys, chunk in messages if keys]
    if routed_publish == "pods":
        return _by_pods(events, max_per_message, holders or {})
    by_audience: dict[tuple[str, ...], list[BusEvent]] = {}
    for event in events:
        by_audience.setdefault(tuple(sorted(set(event.audience))), []).append(event)
    return [
        (list(keys), chunk)
        for keys, grouped in by_audience.items()
        if keys
        for chunk in _chunks(grouped, max_per_message)
    ]


def _by_pods(
    events: Sequence[BusEvent], max_per_message: int, holders: KeyHolders
) -> list[tuple[list[str], list[BusEvent]]]:
    """One group per set of pods holding an event's keys (per ``holders``), chunked; each
    message carries every key of its events, messages in the order their group first appears.

    With ``holders`` right, every pod a message reaches needs every event in it. Wrong or
    missing knowledge changes only the grouping: a message still goes to every queue bound to
    any of its keys (keys nobody is known to hold group together, under the empty set), so a
    pod may receive events it skips, never miss one; order is restored by the
    :class:`Reassembler` as for ``audience``.
    """
    pods_of: dict[tuple[str, ...], frozenset[str]] = {}  # per distinct audience, once
    groups: dict[frozenset[str], list[BusEvent]] = {}
    for event in events:
        if not event.audience:
            continue  # nobody to route to
        pods = pods_of.get(event.audience)
        if pods is None:
            pods = pods_of[event.audience] = _NO_POD.union(
                *(holders.get(key, _NO_POD) for key in event.audience)
            )
        groups.setdefault(pods, []).append(event)
    return [
        (_keys_of(chunk), chunk)
        for grouped in groups.values()
        for chunk in _chunks(grouped, max_per_message)
    ]


def every_key(messages: Sequence[tuple[list[str], list[BusEvent]]]) -> list[str]:
    """The routing keys of all ``messages``: where a batch's end marker goes."""
    return sorted({key for keys, _ in messages for key in keys})


@dataclass
class _Parts:
    started: float
    batches: list[Batch] = field(default_factory=list)


class Reassembler:
    """Puts a routed publish that took several messages back into one batch in cursor order.

    The web client keeps the highest ``seq`` it saw and ignores anything at or below it, so a
    socket must get its events in cursor order. A routed publish of several audiences is
    several messages (parts, marked with the publish's id), followed by an end marker routed
    to every key of the publish; a queue receives messages from one channel in publish order,
    so the marker reaches every queue that got a part, after its parts. Parts are held until
    their marker, then merged by ``seq``. Parts whose marker never comes (the publisher failed
    half-way and will publish again; or the keys were unbound in between) are released, in
    order, once they are ``stale_after`` seconds old.
    """

    def __init__(self, stale_after: float = 5.0) -> None:
        self._held: dict[str, _Parts] = {}
        self._stale_after = stale_after

    def part(self, publish_id: str, batch: Batch, now: float | None = None) -> list[Batch]:
        """Hold a part; returns the stale batches to deliver now."""
        now = time.monotonic() if now is None else now
        self._held.setdefault(publish_id, _Parts(now)).batches.append(batch)
        return self._stale(now)

    def end(self, publish_id: str, now: float | None = None) -> list[Batch]:
        """The marker of ``publish_id``: its merged batch (if any part came) and stale ones."""
        parts = self._held.pop(publish_id, None)
        ready = [Batch.merged(parts.batches)] if parts else []
        return ready + self._stale(time.monotonic() if now is None else now)

    def _stale(self, now: float) -> list[Batch]:
        old = [key for key, parts in self._held.items() if now - parts.started > self._stale_after]
        return [Batch.merged(self._held.pop(key).batches) for key in old]
