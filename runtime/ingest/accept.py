"""The accept side: a group-commit writer that makes raw webhook bodies durable.

Concurrent requests hand their bodies to :meth:`GroupCommitWriter.accept`; one writer task
stores everything queued at once, then resolves each request's future. A request is answered
only after its row is committed ("durable before acknowledged"). The task exists only while
bodies are queued; later rounds take whatever queued up during the previous commit, which is
how the batch grows with the load. The first body after a pause lingers briefly so its
neighbours join it, but only under load (the last group held several bodies): under light
load nobody would join, so it is written at once.

On PostgreSQL a group is **one autocommitted statement on a connection the writer owns**
(:class:`_PostgresStore`): rows from two arrays (``unnest``) and one ``pg_notify`` per group,
prepared once per connection. No pool checkout (``pool_pre_ping`` and the reset on return
were a round trip each), no ``BEGIN``/``COMMIT``, no statement built per group. A connection
that fails is dropped and the next group opens another: a PostgreSQL restart costs the groups
in flight a 503 (:class:`NotStored`), which Meta retries. Other databases (SQLite, the demo)
take one transaction per group from the engine's pool (:class:`_TransactionStore`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db.notify import INBOUND_STORED, origin
from runtime.db.session import DATABASE_ERRORS, OwnedConnection
from runtime.models import InboundWebhook
from runtime.waiting import wait_set

log = logging.getLogger(__name__)


class NotStored(Exception):
    """The database did not take the group holding this body: nothing of it is stored."""


@dataclass(slots=True)
class _Body:
    raw: bytes
    received_at: datetime
    stored: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _PostgresStore:
    """Stores each group with one statement, on a connection of its own."""

    # Rows in queue order (ids follow it); the CTE runs to completion whether read or not.
    _SQL = f"""
        WITH stored AS (
            INSERT INTO {InboundWebhook.__tablename__} (received_at, body, attempts)
            SELECT received_at, body, 0
            FROM unnest($1::timestamptz[], $2::bytea[]) WITH ORDINALITY AS b(received_at, body, n)
            ORDER BY n
        )
        SELECT pg_notify($3, $4)
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._connection = OwnedConnection(engine)
        self._origin = origin(engine)  # notifications from here: ignored by our own listener
        self._lock = asyncio.Lock()  # close() must not pull the connection from under a write
        self._statement: Any = None  # asyncpg's PreparedStatement, on ``_prepared_on``
        self._prepared_on: Any = None

    @property
    def backend_pid(self) -> int | None:
        return self._connection.backend_pid

    async def write(self, batch: list[_Body]) -> None:
        async with self._lock:
            try:
                statement = await self._prepared()
                await statement.fetchval(
                    [b.received_at for b in batch], [b.raw for b in batch],
                    INBOUND_STORED, self._origin,
                )  # fmt: skip
            except DATABASE_ERRORS as exc:
                log.warning("inbound writer: connection (pid %s) failed", self.backend_pid)
                await self._connection.drop()
                raise NotStored(str(exc)) from exc

    async def _prepared(self) -> Any:
        """The statement, prepared once per connection."""
        await self._connection.get()
        if self._prepared_on is not self._connection.driver:
            self._statement = await self._connection.driver.prepare(self._SQL)
            self._prepared_on = self._connection.driver
        return self._statement

    async def close(self) -> None:
        async with self._lock:
            await self._connection.close()


class _TransactionStore:
    """Stores each group in one transaction on a connection from the engine's pool."""

    backend_pid = None  # no connection of its own

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = insert(InboundWebhook)

    async def write(self, batch: list[_Body]) -> None:
        rows = [{"received_at": b.received_at, "body": b.raw, "attempts": 0} for b in batch]
        try:
            async with self._engine.begin() as connection:
                await connection.execute(self._insert, rows)
        except DATABASE_ERRORS as exc:
            raise NotStored(str(exc)) from exc

    async def close(self) -> None:
        pass


def _store_for(engine: AsyncEngine) -> _PostgresStore | _TransactionStore:
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
        return _PostgresStore(engine)
    return _TransactionStore(engine)


class GroupCommitWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        linger: float = 0.002,
        max_batch: int = 500,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = _store_for(engine)
        self._linger = linger
        self._max_batch = max_batch
        self.on_commit = on_commit  # called after each group commit (wakes the processor)
        self._queue: list[_Body] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._under_load = False  # the last group held more than one body: linger
        self.commits = 0  # group commits so far (one per round)

    async def accept(self, raw: bytes, received_at: datetime) -> None:
        """Return once ``raw`` is committed; raise :class:`NotStored` if the database did not
        take it (anything else is a bug)."""
        body = _Body(raw, received_at)
        self._queue.append(body)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_while_queued(), name="inbound-writer")
        elif len(self._queue) >= self._max_batch:
            self._full.set()
        await body.stored  # a client that hangs up cancels only its own future

    async def _write_while_queued(self) -> None:
        if self._under_load and len(self._queue) < self._max_batch:
            await wait_set(self._full, self._linger)
        while self._queue:
            self._full.clear()
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self._under_load = len(batch) > 1
            try:
                await self._write(batch)
            except Exception as exc:
                log.exception("inbound writer: group commit of %d bodies failed", len(batch))
                for body in batch:
                    if not body.stored.done():
                        body.stored.set_exception(exc)
                continue
            for body in batch:
                if not body.stored.done():  # cancelled: its client hung up (still stored)
                    body.stored.set_result(None)
            self.on_commit()

    async def _write(self, batch: list[_Body]) -> None:
        await self._store.write(batch)
        self.commits += 1

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL server process of the writer's own connection, if one is open."""
        return self._store.backend_pid

    async def close(self) -> None:
        """Wait for the bodies already handed over to be written; release the connection (a
        later :meth:`accept` opens another)."""
        if self._task is not None:
            await self._task
        await self._store.close()
