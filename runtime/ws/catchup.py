"""Replaying missed events from the database (not from the broker) before going live."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.bus import BusEvent
from runtime.bus.codec import ENCODE_ERRORS, encode_frame
from runtime.domain.events import events_after
from runtime.domain.visibility import is_session_control
from runtime.ws.connection import Connection, Send

log = logging.getLogger(__name__)


async def replay(
    sessionmaker: async_sessionmaker[AsyncSession], conn: Connection, send: Send, page: int
) -> int:
    """Send ``conn`` its events after its cursor; returns the last cursor examined.

    Session control events are acted on, not sent; replay stops once one ends the socket."""
    cursor = conn.cursor
    while not conn.ended.is_set():
        async with sessionmaker() as session:
            events = await events_after(session, conn.tenant_id, cursor, page)
        for event in events:
            if not conn.keys.intersection(event.audience):
                continue
            if is_session_control(event.audience):
                conn.control(event.seq, event.payload)
            elif conn.seen.first_time(event.seq):
                try:
                    frame = encode_frame(BusEvent(event.seq, event.type, event.payload, ()))
                except ENCODE_ERRORS as exc:  # dead-lettered by the relay: skip it here too
                    log.warning("catch-up skips event seq %s: %s", event.seq, type(exc).__name__)
                    continue
                await send(frame)
        if len(events) < page:
            return events[-1].seq if events else cursor
        cursor = events[-1].seq
    return cursor
