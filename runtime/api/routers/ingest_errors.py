"""Webhook items the receiver refused (malformed messages, statuses, changes), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from runtime.api.deps import PrincipalDep, SessionDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.inbox import IngestErrorOut
from runtime.models import IngestError

router = APIRouter(prefix="/api/ingest", tags=["ingest"])


@router.get("/errors", response_model=Page[IngestErrorOut], dependencies=[perm("audit:read")])
async def list_ingest_errors(
    principal: PrincipalDep,
    session: SessionDep,
    code: Annotated[str | None, Query(max_length=50)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[IngestErrorOut]:
    """The tenant's refused webhook items (items naming no known sender are not listed)."""
    stmt = select(IngestError).where(IngestError.tenant_id == principal.tenant_id)
    if code:
        stmt = stmt.where(IngestError.code == code)
    rows, next_cursor = await paginate(session, stmt, IngestError, cursor, limit)
    return Page(items=[IngestErrorOut.model_validate(r) for r in rows], next_cursor=next_cursor)
