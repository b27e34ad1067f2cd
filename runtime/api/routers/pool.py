"""The case pool as an agent sees it: contacts waiting to be claimed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from runtime.api.deps import PrincipalDep, SessionDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.contacts import AssignmentOut, ContactOut
from runtime.domain import assignment
from runtime.domain.errors import Conflict, NotFound
from runtime.domain.visibility import pool_filter
from runtime.models import AssignmentEvent, Contact

router = APIRouter(prefix="/api/pool", tags=["contacts"], dependencies=[perm("pool:claim")])


@router.get("", response_model=Page[ContactOut])
async def list_pool(
    principal: PrincipalDep,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ContactOut]:
    stmt = select(Contact).where(
        Contact.tenant_id == principal.tenant_id,
        pool_filter(principal.agent_id),
    )
    rows, next_cursor = await paginate(session, stmt, Contact, cursor, limit)
    return Page(items=[ContactOut.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.post("/claim-next", response_model=AssignmentOut)
async def claim_next(principal: PrincipalDep, session: SessionDep) -> AssignmentEvent:
    """Claim the contact that has waited longest in this agent's pool."""
    for _ in range(5):  # another agent may win the race for the same row; try the next
        contact = await session.scalar(
            select(Contact)
            .where(Contact.tenant_id == principal.tenant_id, pool_filter(principal.agent_id))
            .order_by(Contact.updated_at, Contact.id)
            .limit(1)
        )
        if contact is None:
            break
        try:
            entry = await assignment.claim(session, contact, principal.agent_id)
        except Conflict:
            await session.rollback()
            continue
        await session.commit()
        return entry
    raise NotFound("A contact in your pool")
