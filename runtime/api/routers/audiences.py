"""Saved audiences (segments over contacts) and their live count."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from runtime.api.deps import ClockDep, PrincipalDep, SessionDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.campaigns import (
    AudienceCountIn,
    AudienceCountOut,
    AudienceIn,
    AudienceOut,
    AudiencePatch,
)
from runtime.clock import utc_now
from runtime.domain import audiences
from runtime.domain.audit import audit
from runtime.domain.errors import Conflict
from runtime.domain.lookup import ensure_name_free, get_owned
from runtime.models import Audience, Campaign

router = APIRouter(prefix="/api/audiences", tags=["campaigns"])
READ = perm("campaigns:read")
WRITE = perm("campaigns:write")


@router.get("", response_model=Page[AudienceOut], dependencies=[READ])
async def list_audiences(
    principal: PrincipalDep,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AudienceOut]:
    stmt = select(Audience).where(Audience.tenant_id == principal.tenant_id)
    rows, next_cursor = await paginate(session, stmt, Audience, cursor, limit)
    return Page(items=[AudienceOut.model_validate(a) for a in rows], next_cursor=next_cursor)


@router.post("/count", response_model=AudienceCountOut, dependencies=[READ])
async def count_definition(
    body: AudienceCountIn, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> AudienceCountOut:
    """How many contacts an (unsaved) definition matches right now: the builder's live count."""
    count = await audiences.count(session, principal.tenant_id, body.definition, utc_now(clock))
    return AudienceCountOut(count=count)


@router.post(
    "", response_model=AudienceOut, status_code=status.HTTP_201_CREATED, dependencies=[WRITE]
)
async def create_audience(
    body: AudienceIn, principal: PrincipalDep, session: SessionDep
) -> Audience:
    audiences.validate(body.definition)
    await ensure_name_free(session, Audience, principal.tenant_id, body.name)
    audience = Audience(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        name=body.name,
        definition=body.definition,
        created_by=principal.agent_id,
    )
    session.add(audience)
    audit(
        session, principal.tenant_id, principal.agent_id, "audience.create", "audience", audience.id
    )
    await session.commit()
    return audience


@router.get("/{audience_id}", response_model=AudienceOut, dependencies=[READ])
async def get_audience(
    audience_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Audience:
    return await get_owned(session, Audience, audience_id, principal.tenant_id)


@router.get("/{audience_id}/count", response_model=AudienceCountOut, dependencies=[READ])
async def count_audience(
    audience_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> AudienceCountOut:
    audience = await get_owned(session, Audience, audience_id, principal.tenant_id)
    count = await audiences.count(session, principal.tenant_id, audience.definition, utc_now(clock))
    return AudienceCountOut(count=count)


@router.patch("/{audience_id}", response_model=AudienceOut, dependencies=[WRITE])
async def update_audience(
    audience_id: uuid.UUID, body: AudiencePatch, principal: PrincipalDep, session: SessionDep
) -> Audience:
    audience = await get_owned(session, Audience, audience_id, principal.tenant_id)
    if body.name is not None:
        await ensure_name_free(session, Audience, principal.tenant_id, body.name, audience.id)
        audience.name = body.name
    if body.definition is not None:
        audiences.validate(body.definition)
        audience.definition = body.definition
    audit(
        session, principal.tenant_id, principal.agent_id, "audience.update", "audience", audience.id
    )
    await session.commit()
    return audience


@router.delete("/{audience_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WRITE])
async def delete_audience(
    audience_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    audience = await get_owned(session, Audience, audience_id, principal.tenant_id)
    if await session.scalar(select(Campaign.id).where(Campaign.audience_id == audience.id)):
        raise Conflict("audience_in_use", "A campaign uses this audience; it cannot be deleted.")
    await session.delete(audience)
    audit(
        session, principal.tenant_id, principal.agent_id, "audience.delete", "audience", audience_id
    )
    await session.commit()
