"""Message templates mirrored from the tenant's WhatsApp Business Accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from runtime.api.deps import PrincipalDep, SessionDep, SettingsDep, WhatsAppDep, perm
from runtime.api.schemas.inbox import SyncOut, TemplateOut
from runtime.domain.audit import audit
from runtime.domain.templates import sync_templates
from runtime.models import Template

router = APIRouter(prefix="/api/templates", tags=["templates"])


@router.get("", response_model=list[TemplateOut], dependencies=[perm("templates:read")])
async def list_templates(
    principal: PrincipalDep,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    waba_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[Template]:
    stmt = select(Template).where(Template.tenant_id == principal.tenant_id)
    if status:
        stmt = stmt.where(Template.status == status.upper())
    if waba_id:
        stmt = stmt.where(Template.waba_id == waba_id)
    return list((await session.execute(stmt.order_by(Template.name, Template.language))).scalars())


@router.post("/sync", response_model=SyncOut, dependencies=[perm("templates:write")])
async def sync(
    principal: PrincipalDep, session: SessionDep, settings: SettingsDep, whatsapp: WhatsAppDep
) -> SyncOut:
    """Fetch every template of the tenant's WABAs from WhatsApp and mirror them here."""
    result = await sync_templates(session, whatsapp, settings, principal.tenant_id)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "template.sync",
        "template",
        None,
        {"created": result.created, "updated": result.updated, "removed": result.removed},
    )
    await session.commit()
    return SyncOut(created=result.created, updated=result.updated, removed=result.removed)
