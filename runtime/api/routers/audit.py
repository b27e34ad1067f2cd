"""The tenant's audit log, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from runtime.api.deps import PrincipalDep, SessionDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.people import AuditOut
from runtime.models import AuditEntry

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=Page[AuditOut], dependencies=[perm("audit:read")])
async def list_audit(
    principal: PrincipalDep,
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AuditOut]:
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == principal.tenant_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    rows, next_cursor = await paginate(session, stmt, AuditEntry, cursor, limit)
    return Page(items=[AuditOut.model_validate(r) for r in rows], next_cursor=next_cursor)
