"""Recording events into the outbox inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.event import listens_for
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from runtime.db.base import utcnow
from runtime.db.notify import EVENTS_WRITTEN, origin
from runtime.models import Event, Tenant


async def record_event(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    type_: str,
    payload: dict[str, Any],
    audience: list[str],
) -> RecordedEvent:
    """Add an event to the current transaction; it is written, with its cursor (``seq``),
    when the transaction commits.

    ``audience``: keys from :mod:`runtime.domain.visibility` (never empty: an event for
    nobody is a bug).

    At commit, all new events of a tenant get consecutive cursors from one update of the
    tenant row, which takes its row lock on PostgreSQL (SQLite serialises writers anyway),
    and are inserted in one statement: event-producing transactions of a tenant commit in
    cursor order, so a reader that saw cursor N never later finds a smaller one appear.
    Events recorded inside a savepoint that is rolled back are dropped with it.
    """
    if not audience:
        raise ValueError(f"event {type_!r} has no audience")
    event = RecordedEvent(tenant_id, type_, payload, sorted(set(audience)), utcnow())
    session.sync_session.info.setdefault(_PENDING, []).append(event)
    return event


@dataclass(slots=True)
class RecordedEvent:
    """An event recorded in a transaction; ``seq`` is set when the transaction commits."""

    tenant_id: uuid.UUID
    type: str
    payload: dict[str, Any]
    audience: list[str]
    created_at: datetime
    seq: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "seq": self.seq,
            "type": self.type,
            "payload": self.payload,
            "audience": self.audience,
            "created_at": self.created_at,
            "publish_attempts": 0,
        }


_PENDING = "scrm.events.pending"  # rows recorded in this transaction, in order, not written
_SAVEPOINTS = "scrm.events.savepoints"  # savepoint → how many rows were pending at its start
WROTE_EVENTS = "scrm.events.wrote"  # set when a commit wrote events (the relay wakes up)


@listens_for(Session, "after_transaction_create")
def _note_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_SAVEPOINTS, {})[transaction] = len(session.info.get(_PENDING, ()))


@listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    """A rolled-back savepoint drops what was recorded since it began; a rolled-back
    transaction drops everything."""
    if transaction.nested:
        start = session.info.get(_SAVEPOINTS, {}).pop(transaction, None)
    else:
        session.info.pop(_SAVEPOINTS, None)
        start = 0
    if start is not None and _PENDING in session.info:
        del session.info[_PENDING][start:]


@listens_for(Session, "before_commit")
def _write_events(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the events wait for commit
        return
    session.info.pop(_SAVEPOINTS, None)
    pending: list[RecordedEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    by_tenant: dict[uuid.UUID, list[RecordedEvent]] = {}
    for event in pending:
        by_tenant.setdefault(event.tenant_id, []).append(event)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for events in by_tenant.values():
            last = connection.execute(_NUMBERED_INSERT, _arrays(events, connection))
            _number(events, last.scalar_one())
    else:  # SQLite: no arrays; one writer at a time anyway
        for tenant_id, events in by_tenant.items():
            bump = (
                update(Tenant)
                .where(Tenant.id == tenant_id)
                .values(event_seq=Tenant.event_seq + len(events))
                .returning(Tenant.event_seq)
            )
            _number(events, connection.execute(bump).scalar_one())
        connection.execute(insert(Event), [event.row() for event in pending])
    session.info[WROTE_EVENTS] = True


def _number(events: list[RecordedEvent], last: int) -> None:
    """Give ``events`` the consecutive cursors ending at ``last``."""
    for seq, event in enumerate(events, start=last - len(events) + 1):
        event.seq = seq


# One tenant's events on PostgreSQL, in one statement: reserve their cursors (the tenant
# row's ``event_seq``, whose lock orders the tenant's commits), insert them numbered from
# arrays (ids in cursor order), and wake the relays of other processes (as
# runtime.db.notify.notifying does); returns the last cursor. Plain SQL: a Core statement
# this shape costs more to build and to look up in the compiled cache than to run.
_NUMBERED_INSERT = text(
    """WITH reserved AS (
    UPDATE tenants SET event_seq = event_seq + :count, updated_at = :now
    WHERE id = :tenant_id
    RETURNING event_seq, pg_notify(:channel, :origin)
), written AS (
    INSERT INTO events (tenant_id, seq, type, payload, audience, created_at, publish_attempts)
    SELECT :tenant_id, reserved.event_seq - :count + recorded.ord, recorded.type,
        CAST(recorded.payload AS json), CAST(recorded.audience AS json), recorded.created_at, 0
    FROM reserved, unnest(
        CAST(:types AS text[]), CAST(:payloads AS text[]), CAST(:audiences AS text[]),
        CAST(:created AS timestamptz[])
    ) WITH ORDINALITY AS recorded (type, payload, audience, created_at, ord)
    ORDER BY recorded.ord
)
SELECT event_seq FROM reserved
"""
)


def _arrays(events: list[RecordedEvent], connection: Connection) -> dict[str, Any]:
    """The parameters of ``_NUMBERED_INSERT``: one tenant's events as columns of arrays (the
    JSON encoded here, once, as the JSON columns would encode it)."""
    return {
        "tenant_id": events[0].tenant_id,
        "count": len(events),
        "now": utcnow(),
        "channel": EVENTS_WRITTEN,
        "origin": origin(connection.engine),
        "types": [event.type for event in events],
        "payloads": [json.dumps(event.payload) for event in events],
        "audiences": [json.dumps(event.audience) for event in events],
        "created": [event.created_at for event in events],
    }


async def events_after(
    session: AsyncSession, tenant_id: uuid.UUID, cursor: int, limit: int = 1000
) -> list[Event]:
    """Committed events of a tenant with a cursor greater than ``cursor``, oldest first."""
    rows = await session.execute(
        select(Event)
        .where(Event.tenant_id == tenant_id, Event.seq > cursor)
        .order_by(Event.seq)
        .limit(limit)
    )
    return list(rows.scalars())
