"""Transaction-scoped leases: one holder at a time across processes, released with the
transaction (or with its connection, if the holder dies)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

# Arbitrary constants naming our leases among PostgreSQL advisory locks.
INBOUND_PROCESSING = 0x5C7A_10_1B
OUTBOX_PUBLISHING = 0x5C7A_0E1A
SENDER_HEALTH_POLLING = 0x5C7A_4EA1


async def take_transaction_lease(connection: AsyncConnection, key: int) -> bool:
    """Whether this transaction now holds lease ``key`` (``pg_try_advisory_xact_lock``;
    never waits). SQLite has one writer at a time anyway: always true there."""
    if connection.dialect.name != "postgresql":
        return True
    lease = select(func.pg_try_advisory_xact_lock(key))
    return bool((await connection.execute(lease)).scalar_one())
