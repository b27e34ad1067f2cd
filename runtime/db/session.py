"""Engine and session factory; SQLite gets foreign keys and WAL, PostgreSQL a sane pool."""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# What a failing database or connection raises: SQLAlchemy's wrappers, a refused connection
# (OSError) and, used directly, asyncpg's own (a connection the server ended can surface as
# an InternalClientError: "another operation is in progress").
DATABASE_ERRORS = (
    SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)  # fmt: skip


def loopback_without_tls_setting(url: str) -> bool:
    """Whether ``url`` is asyncpg to PostgreSQL on this machine with no ``ssl``/``sslmode``
    chosen: asyncpg would then try TLS (``prefer``), which costs CPU and protects nothing."""
    parsed = make_url(url)
    return (
        parsed.get_driver_name() == "asyncpg"
        and parsed.host in _LOOPBACK
        and not {"ssl", "sslmode"} & set(parsed.query)
    )


def make_engine(url: str, *, sqlite_foreign_keys: bool = True) -> AsyncEngine:
    """``sqlite_foreign_keys=False`` is for migrations only: SQLite rebuilds a table to alter
    it, and dropping the old copy with enforcement on would fire ON DELETE CASCADE."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # SQLite has one writer; queueing for the single connection in asyncio is far
        # cheaper than SQLite's sleeping busy-wait (which made p99 ~1 s under 4 writers).
        kwargs.update(connect_args={"timeout": 30}, pool_size=1, max_overflow=0)
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        if loopback_without_tls_setting(url):
            kwargs.update(connect_args={"ssl": False})
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The driver's own transaction handling would let RELEASE SAVEPOINT commit and
            # read outside transactions; take over and BEGIN ourselves (SQLAlchemy's recipe).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA foreign_keys={'ON' if sqlite_foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: no read-then-write upgrade deadlocks.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def release(session: AsyncSession) -> None:
    """End the session's reads (nothing pending) and give its connection back to the pool,
    before slow I/O or work that needs a connection of its own (the database media store;
    SQLite's pool has one). Its objects stay usable: sessions do not expire on commit."""
    await session.commit()


class OwnedConnection:
    """One connection from ``engine`` kept by a single worker between its uses: no pool
    checkout per use (``pool_pre_ping`` is a round trip, the reset on return another). One
    that the server closed (noticed without a round trip) or that failed (:meth:`drop`) is
    replaced by a new one on the next :meth:`get`. PostgreSQL only: SQLite's pool has a
    single connection, which nobody may keep."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self.driver: Any = None  # the asyncpg connection under it, while open

    async def get(self) -> AsyncConnection:
        if self._connection is not None and (
            self._connection.invalidated or self.driver.is_closed()
        ):
            await self.drop()
        if self._connection is None:
            self._connection = await self._engine.connect()
            self.driver = (await self._connection.get_raw_connection()).driver_connection
        return self._connection

    @property
    def backend_pid(self) -> int | None:
        """The server process of the open connection, if any."""
        return None if self.driver is None else int(self.driver.get_server_pid())

    async def drop(self) -> None:
        """Discard the connection (after a failure: it is not given back to the pool)."""
        connection, self._connection, self.driver = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it may be dead already
                await connection.invalidate()
                await connection.close()

    async def close(self) -> None:
        """Give the connection back to the pool (a later :meth:`get` takes another)."""
        connection, self._connection, self.driver = self._connection, None, None
        if connection is not None:
            await connection.close()
