"""Wire formats: a batch of events in one AMQP message, and one event as a websocket frame."""

from __future__ import annotations

import json
from collections.abc import Sequence

from runtime.bus.base import BusEvent


def encode_batch(events: Sequence[BusEvent]) -> bytes:
    """A JSON array of ``[seq, type, payload, audience]`` rows."""
    rows = [[e.seq, e.type, e.payload, list(e.audience)] for e in events]
    return json.dumps(rows, separators=(",", ":")).encode()


def decode_batch(body: bytes) -> list[BusEvent]:
    rows = json.loads(body)
    return [BusEvent(seq, type_, payload, tuple(aud)) for seq, type_, payload, aud in rows]


def encode_frame(event: BusEvent) -> str:
    """The client-facing frame: ``{"seq": …, "type": …, "payload": …}``."""
    frame = {"seq": event.seq, "type": event.type, "payload": event.payload}
    return json.dumps(frame, separators=(",", ":"))
