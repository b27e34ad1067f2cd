"""The accept side: a group-commit writer that makes raw webhook bodies durable.

Concurrent requests hand their bodies to :meth:`GroupCommitWriter.accept`; one writer task
inserts everything queued in one statement and one COMMIT, then resolves each request's
future. A request is answered only after its row is committed ("durable before
acknowledged"). The task exists only while bodies are queued; later rounds take whatever
queued up during the previous commit, which is how the batch grows with the load. The first
body after a pause lingers briefly so its neighbours join it, but only under load (the last
group held several bodies): under light load nobody would join, so it is written at once.
A group of one body is one autocommitted ``INSERT`` on PostgreSQL (a statement is atomic on
its own): no ``BEGIN`` and ``COMMIT`` round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runtime.db.notify import INBOUND_STORED, notifying
from runtime.models import InboundWebhook

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Body:
    raw: bytes
    received_at: datetime
    stored: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        linger: float = 0.002,
        max_batch: int = 500,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._linger = linger
        self._max_batch = max_batch
        self.on_commit = on_commit  # called after each group commit (wakes the processor)
        self._queue: list[_Body] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._under_load = False  # the last group held more than one body: linger
        self.commits = 0  # group commits so far (one per round)

    async def accept(self, raw: bytes, received_at: datetime) -> None:
        """Return once ``raw`` is committed; raise if the commit failed (nothing stored)."""
        body = _Body(raw, received_at)
        self._queue.append(body)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_while_queued(), name="inbound-writer")
        elif len(self._queue) >= self._max_batch:
            self._full.set()
        # Shielded: a client that hangs up must not cancel its neighbours' shared future.
        await asyncio.shield(body.stored)

    async def _write_while_queued(self) -> None:
        if self._under_load and len(self._queue) < self._max_batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._linger)
        while self._queue:
            self._full.clear()
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self._under_load = len(batch) > 1
            try:
                await self._write(batch)
            except Exception as exc:
                log.exception("inbound writer: group commit of %d bodies failed", len(batch))
                for body in batch:
                    body.stored.set_exception(exc)
                continue
            for body in batch:
                body.stored.set_result(None)
            self.on_commit()

    async def _write(self, batch: list[_Body]) -> None:
        rows = [{"received_at": b.received_at, "body": b.raw, "attempts": 0} for b in batch]
        async with self._connection(autocommit=len(rows) == 1) as connection:
            await connection.execute(  # notifying the processors of other processes
                notifying(insert(InboundWebhook), INBOUND_STORED, connection), rows
            )
        self.commits += 1

    @contextlib.asynccontextmanager
    async def _connection(self, *, autocommit: bool) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction committed on the way out; with ``autocommit`` on
        PostgreSQL, one whose statement commits by itself (a single statement only)."""
        if autocommit and self._engine.dialect.name == "postgresql":
            async with self._engine.connect() as connection:
                yield await connection.execution_options(isolation_level="AUTOCOMMIT")
        else:
            async with self._engine.begin() as connection:
                yield connection

    async def close(self) -> None:
        """Wait for the bodies already handed over to be written."""
        if self._task is not None:
            await self._task
