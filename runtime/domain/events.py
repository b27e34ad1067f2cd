"""Recording events into the outbox inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import utcnow
from runtime.models import Event, Tenant

ALL = "all"


def agent_key(agent_id: uuid.UUID) -> str:
    return f"agent.{agent_id}"


def team_key(team_id: uuid.UUID) -> str:
    return f"team.{team_id}"


async def record_event(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    type_: str,
    payload: dict[str, Any],
    audience: list[str],
) -> Event:
    """Add an event with the tenant's next cursor to the current transaction.

    The tenant row is updated first, which takes its row lock on PostgreSQL (SQLite
    serialises writers anyway): event-producing transactions of one tenant commit in
    cursor order, so a reader that saw cursor N never later finds a smaller one appear.
    """
    seq = (
        await session.execute(
            update(Tenant)
            .where(Tenant.id == tenant_id)
            .values(event_seq=Tenant.event_seq + 1)
            .returning(Tenant.event_seq)
        )
    ).scalar_one()
    event = Event(
        tenant_id=tenant_id,
        seq=seq,
        type=type_,
        payload=payload,
        audience=sorted(set(audience)) or [ALL],
        created_at=utcnow(),
    )
    session.add(event)
    return event


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
