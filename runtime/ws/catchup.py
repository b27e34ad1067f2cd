"""Replaying missed events from the database (not from the broker) before going live."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.bus import BusEvent
from runtime.bus.codec import ENCODE_ERRORS, encode_frame
from runtime.domain.events import events_after
from runtime.ws.connection import Connection, Send

log = logging.getLogger(__name__)


async def replay(
    sessionmaker: async_sessionmaker[AsyncSession], conn: Connection, send: Send, page: int
) -> int:
    """Send ``conn`` its events after its cursor; returns the last cursor examined."""
    cursor = conn.cursor
    while True:
        async with sessionmaker() as session:
            events = await events_after(session, conn.tenant_id, cursor, page)
        for event in events:
            if conn.keys.intersection(event.audience) and conn.seen.first_time(event.seq):
                try:
                    frame = encode_frame(BusEvent(event.seq, event.type, event.payload, ()))
                except ENCODE_ERRORS as exc:  # dead-lettered by the relay: skip it here too
                    log.warning("catch-up skips event seq %s: %s", event.seq, type(exc).__name__)
                    continue
                await send(frame)
        if len(events) < page:
            return events[-1].seq if events else cursor
        cursor = events[-1].seq
