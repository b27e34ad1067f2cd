"""Wire formats: a batch of events in one AMQP message, and one event as a websocket frame.

A batch body is a header line and then one line per event holding that event's
client-facing frame, already encoded::

    [[seq, [audience…]], …]\\n{"seq":…,"type":…,"payload":…}\\n{…}…

(JSON never contains a raw newline.) A pod reads the header, looks up each event's audience
in its registry, and forwards the frame bytes of the events it has sockets for: no event is
JSON-decoded or re-encoded on the pod, and an event for nobody here costs one lookup.
orjson is used when it is installed (several times faster), the standard library otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from runtime.bus.base import BusEvent

_dumps: Callable[[Any], bytes]
_loads: Callable[[bytes | str], Any]
try:
    import orjson

    _dumps, _loads = orjson.dumps, orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    _loads = json.loads


# What encoding a payload can raise: an unserialisable value (orjson's JSONEncodeError is a
# TypeError), a string that is not UTF-8, nesting past orjson's or the interpreter's limit.
ENCODE_ERRORS = (TypeError, ValueError, RecursionError)


def encode_frame_bytes(event: BusEvent) -> bytes:
    """The client-facing frame: ``{"seq": …, "type": …, "payload": …}``."""
    if event.frame is not None:
        return event.frame
    return _dumps({"seq": event.seq, "type": event.type, "payload": event.payload})


def encode_frame(event: BusEvent) -> str:
    return encode_frame_bytes(event).decode()


class Batch:
    """A received batch: ``entries`` are ``[seq, audience]`` pairs (as decoded: lists);
    frames are turned into text only for the events somebody here wants."""

    __slots__ = ("entries", "_frames")

    def __init__(self, entries: list[Any], frames: list[bytes]) -> None:
        self.entries = entries
        self._frames = frames

    def __len__(self) -> int:
        return len(self.entries)

    def frame(self, index: int) -> str:
        return self._frames[index].decode()

    @classmethod
    def merged(cls, batches: Sequence[Batch]) -> Batch:
        """One batch holding the events of ``batches`` in cursor order."""
        if len(batches) == 1:
            return batches[0]
        entries = [entry for batch in batches for entry in batch.entries]
        frames = [frame for batch in batches for frame in batch._frames]
        order = sorted(range(len(entries)), key=lambda i: entries[i][0])
        return cls([entries[i] for i in order], [frames[i] for i in order])

    @classmethod
    def of(cls, events: Sequence[BusEvent]) -> Batch:
        """The batch a consumer would receive for ``events`` (the in-process bus uses it)."""
        return cls(
            [[e.seq, list(e.audience)] for e in events], [encode_frame_bytes(e) for e in events]
        )


def encode_batch(events: Sequence[BusEvent], frames: Sequence[bytes] | None = None) -> bytes:
    """The AMQP body of ``events``; ``frames`` (their encoded frames) when already at hand."""
    header = _dumps([[e.seq, list(e.audience)] for e in events])
    if frames is None:
        frames = [encode_frame_bytes(e) for e in events]
    return b"\n".join([header, *frames])


def decode_batch(body: bytes) -> Batch:
    header, *frames = body.split(b"\n")
    entries = _loads(header)
    if not isinstance(entries, list) or len(entries) != len(frames):
        raise ValueError("batch header does not match its frames")
    return Batch(entries, frames)
