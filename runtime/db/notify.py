"""Wake-ups across processes: PostgreSQL ``LISTEN``/``NOTIFY``.

A transaction that stores work for a worker of any process (webhooks for the inbound
processor, outbox events for the relay) sends a notification on that worker's channel; it is
delivered at commit, and not at all on rollback. Each api process listens on one connection
of its own and wakes its local worker, which then runs a round or, if another process holds
the lease, leaves the work to that holder (it was notified too). A notification carries the
:func:`origin` of the engine that committed it, and a listener ignores its own process's:
those commits already woke the local workers directly (a second wake-up would cost an
empty round, and would make one commit look like two to the relay's linger). SQLite has one
process: in-process wake-ups suffice, and these are no-ops there. Polls stay as a fallback
(a process whose listening connection is down, a notification sent before a listener
reconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

import asyncpg
from sqlalchemy import Connection, Engine, func
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import UpdateBase

from runtime.db.session import loopback_without_tls_setting

log = logging.getLogger(__name__)

INBOUND_STORED = "scrm_inbound_stored"  # webhooks committed, to apply
EVENTS_WRITTEN = "scrm_events_written"  # outbox events committed, to publish


_Statement = TypeVar("_Statement", bound=UpdateBase)
_ORIGINS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def origin(engine: Engine | AsyncEngine) -> str:
    """The payload of the notifications sent by ``engine``'s transactions (one per engine,
    i.e. per process in production; two engines in one test process are two origins)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    return _ORIGINS.setdefault(sync, uuid.uuid4().hex)


def notifying(
    statement: _Statement, channel: str, connection: Connection | AsyncConnection
) -> _Statement:
    """``statement``, also notifying ``channel`` when its transaction commits, on PostgreSQL
    (``RETURNING pg_notify(…)``: no round trip of its own; identical notifications of one
    transaction are delivered once). The payload is the connection's engine's origin."""
    if connection.dialect.name != "postgresql":
        return statement
    return cast(_Statement, statement.returning(func.pg_notify(channel, origin(connection.engine))))


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
    calls each waker once, for what was committed while nobody listened. Notifications from
    ``own_origin`` (this process's engine, whose commits wake the workers in process) are
    ignored."""

    def __init__(
        self,
        database_url: str,
        wakers: dict[str, Callable[[], None]],
        *,
        retry_delay: float = 1.0,
        own_origin: str | None = None,
    ) -> None:
        self._url = make_url(database_url)
        self._ssl = False if loopback_without_tls_setting(database_url) else None
        self._wakers = wakers
        self._retry_delay = retry_delay
        self._own_origin = own_origin
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
                await connection.add_listener(channel, self._callback(wake))
            self.listening = True
            for wake in self._wakers.values():
                wake()
            await closed.wait()
        finally:
            self.listening = False
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)

    def _callback(self, wake: Callable[[], None]) -> Callable[[Any, int, str, str], None]:
        """An asyncpg listener (connection, backend pid, channel, payload) calling ``wake``
        unless the notification is this process's own."""

        def woken(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload != self._own_origin:
                wake()

        return woken
