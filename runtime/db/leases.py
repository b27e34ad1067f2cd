"""Transaction-scoped leases: one holder at a time across processes, released with the
transaction (or with its connection, if the holder dies)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

# Arbitrary constants naming our leases among PostgreSQL advisory locks.
INBOUND_PROCESSING = 0x5C7A_10_1B
OUTBOX_PUBLISHING = 0x5C7A_0E1A
SENDER_HEALTH_POLLING = 0x5C7A_4EA1


@cache
def _lease_query(key: int) -> Select[Any]:
    """``SELECT pg_try_advisory_xact_lock(key)``, built once per key (with its cache key)."""
    return select(func.pg_try_advisory_xact_lock(key))


async def take_transaction_lease(connection: AsyncConnection, key: int) -> bool:
    """Whether this transaction now holds lease ``key`` (``pg_try_advisory_xact_lock``;
    never waits). SQLite has one writer at a time anyway: always true there."""
    if connection.dialect.name != "postgresql":
        return True
    return bool((await connection.execute(_lease_query(key))).scalar_one())


def under_lease(query: Select[Any], key: int, dialect: Dialect) -> Select[Any]:
    """``query`` finding rows only if its transaction takes lease ``key``, with no round trip
    of its own: on PostgreSQL the lease is an uncorrelated subquery, which the planner
    evaluates once, as a one-time filter before the scan. When the statement finds nothing,
    :func:`take_transaction_lease` tells whether the lease was taken (nothing to do) or not
    (busy); asking again while holding it is harmless (it is re-entrant)."""
    if dialect.name != "postgresql":
        return query
    return query.where(_lease_query(key).scalar_subquery())
