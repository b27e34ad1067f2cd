"""Wake-ups across processes: PostgreSQL ``LISTEN``/``NOTIFY``.

A transaction that stores work for a worker of any process (webhooks for the inbound
processor, outbox events for the relay) sends a notification on that worker's channel; it is
delivered at commit, and not at all on rollback. Each api process listens on one connection
of its own and wakes its local worker, which then runs a round or, if another process holds
the lease, leaves the work to that holder (it was notified too). SQLite has one process:
in-process wake-ups suffice, and these are no-ops there. Polls stay as a fallback (a process
whose listening connection is down, a notification sent before a listener reconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TypeVar, cast

import asyncpg
from sqlalchemy import func
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql.dml import UpdateBase

from runtime.db.session import loopback_without_tls_setting

log = logging.getLogger(__name__)

INBOUND_STORED = "scrm_inbound_stored"  # webhooks committed, to apply
EVENTS_WRITTEN = "scrm_events_written"  # outbox events committed, to publish


_Statement = TypeVar("_Statement", bound=UpdateBase)


def notifying(statement: _Statement, channel: str, dialect: Dialect) -> _Statement:
    """``statement``, also notifying ``channel`` when its transaction commits, on PostgreSQL
    (``RETURNING pg_notify(…)``: no round trip of its own; identical notifications of one
    transaction are delivered once)."""
    if dialect.name != "postgresql":
        return statement
    return cast(_Statement, statement.returning(func.pg_notify(channel, "")))


@contextlib.asynccontextmanager
async def listening(listener: Listener) -> AsyncIterator[None]:
    """Run ``listener`` if the database has notifications (PostgreSQL), else nothing."""
    if not listener.enabled:
        yield
        return
    async with listener.running():
        yield


class Listener:
    """Calls ``wakers[channel]()`` for each notification on ``channel``, over one asyncpg
    connection it keeps open (reconnecting after ``retry_delay``); on every (re)connect it
    calls each waker once, for what was committed while nobody listened."""

    def __init__(
        self,
        database_url: str,
        wakers: dict[str, Callable[[], None]],
        *,
        retry_delay: float = 1.0,
    ) -> None:
        self._url = make_url(database_url)
        self._ssl = False if loopback_without_tls_setting(database_url) else None
        self._wakers = wakers
        self._retry_delay = retry_delay
        self.listening = False  # whether notifications arrive now

    @property
    def enabled(self) -> bool:
        return self._url.get_backend_name() == "postgresql"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._listen_forever(), name="db-listener")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.listening = False

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("notification listener: %s; reconnecting", exc)
            self.listening = False
            await asyncio.sleep(self._retry_delay)

    async def _listen_once(self) -> None:
        url = self._url
        connection = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            database=url.database, ssl=self._ssl,
        )  # fmt: skip
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        try:
            for channel, wake in self._wakers.items():
                await connection.add_listener(channel, lambda *_, wake=wake: wake())
            self.listening = True
            for wake in self._wakers.values():
                wake()
            await closed.wait()
        finally:
            self.listening = False
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)
