"""Recording events into the outbox inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.event import listens_for
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from runtime.db.base import utcnow
from runtime.domain.visibility import personal_key
from runtime.models import Event, Tenant


async def record_event(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    type_: str,
    payload: dict[str, Any],
    audience: list[str],
) -> Event:
    """Add an event to the current transaction; its cursor (``seq``) is given at flush.

    ``audience``: keys from :mod:`runtime.domain.visibility` (never empty: an event for
    nobody is a bug).

    At flush, all new events of a tenant get consecutive cursors from one update of the
    tenant row, which takes its row lock on PostgreSQL (SQLite serialises writers anyway):
    event-producing transactions of a tenant commit in cursor order, so a reader that saw
    cursor N never later finds a smaller one appear.
    """
    if not audience:
        raise ValueError(f"event {type_!r} has no audience")
    event = Event(
        tenant_id=tenant_id,
        type=type_,
        payload=payload,
        audience=sorted(set(audience)),
        created_at=utcnow(),
    )
    session.add(event)
    session.sync_session.info.setdefault(_PENDING, []).append(event)
    return event


_PENDING = "scrm.events.pending"


@listens_for(Session, "before_flush")
def _assign_cursors(session: Session, _context: Any, _instances: Any) -> None:
    pending: list[Event] = session.info.pop(_PENDING, [])
    by_tenant: dict[uuid.UUID, list[Event]] = {}
    for event in pending:  # in the order they were recorded; dropped if rolled back
        if not inspect(event).pending:  # (not ``session.new``: it builds a set per call)
            continue
        by_tenant.setdefault(event.tenant_id, []).append(event)
    for tenant_id, events in by_tenant.items():
        last = (
            session.connection()
            .execute(
                update(Tenant)
                .where(Tenant.id == tenant_id)
                .values(event_seq=Tenant.event_seq + len(events))
                .returning(Tenant.event_seq)
            )
            .scalar_one()
        )
        first = last - len(events) + 1
        for k, event in enumerate(events):
            event.seq = first + k


async def permissions_changed(
    session: AsyncSession, tenant_id: uuid.UUID, agent_ids: list[uuid.UUID]
) -> None:
    """Tell these agents' browsers to re-read their permissions, and re-scope their sockets
    to what the new permissions allow."""
    from runtime.domain.sessions import rescope_sockets  # sessions records through this module

    if agent_ids:
        await record_event(
            session, tenant_id, "permissions.changed", {}, [personal_key(a) for a in agent_ids]
        )
        await rescope_sockets(session, tenant_id, agent_ids, "permissions changed")


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
