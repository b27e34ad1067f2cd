"""Message templates: sync from the WABA, and validation + rendering of a template send."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Invalid, NotFound
from runtime.domain.sender_tokens import resolve_token
from runtime.domain.template_params import RenderedTemplate, build_components
from runtime.models import Sender, Template
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.template_slots import template_slots


def render(template: Template, parameters: dict[str, list[Any]]) -> RenderedTemplate:
    """Check the parameters against the template's stored components (every header, body
    and button parameter; runtime/domain/template_params.py) and build the send body."""
    return build_components(
        template.name, template.components, template_slots(template.components), parameters
    )


async def approved_template(
    session: AsyncSession, sender: Sender, name: str, language: str
) -> Template:
    template = await session.scalar(
        select(Template).where(
            Template.tenant_id == sender.tenant_id,
            Template.waba_id == sender.waba_id,
            Template.name == name,
            Template.language == language,
        )
    )
    if template is None:
        raise NotFound(f"Template {name!r} ({language}) of this sender's WhatsApp account")
    if template.status != "APPROVED":
        raise Invalid(
            "template_not_approved",
            f"Template {name!r} is {template.status}; only APPROVED templates can be sent.",
        )
    return template


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    removed: int = 0


async def sync_templates(
    session: AsyncSession, client: CloudAPIClient, settings: Settings, tenant_id: uuid.UUID
) -> SyncResult:
    """Mirror the templates of every WABA the tenant's active senders belong to.

    Meta is asked first, with no transaction open (a slow Graph API must not hold a database
    connection); the mirror is then written in the caller's transaction."""
    senders = (
        await session.execute(
            select(Sender).where(Sender.tenant_id == tenant_id, Sender.status == "active")
        )
    ).scalars()
    tokens: dict[str, str] = {}
    for sender in senders:
        tokens.setdefault(sender.waba_id, resolve_token(sender, settings))
    await session.commit()  # ends the read transaction (callers call with nothing pending)
    remote_by_waba = {
        waba_id: await client.list_templates(waba_id, token) for waba_id, token in tokens.items()
    }
    await session.execute(  # the sync webhooks asked for (webhook_ingest) is this one
        update(Sender)
        .where(Sender.tenant_id == tenant_id, Sender.waba_id.in_(tokens))
        .values(templates_sync_requested_at=None)
    )
    result = SyncResult()
    for waba_id, remote in remote_by_waba.items():
        local = {
            (t.name, t.language): t
            for t in (
                await session.execute(
                    select(Template).where(
                        Template.tenant_id == tenant_id, Template.waba_id == waba_id
                    )
                )
            ).scalars()
        }
        for info in remote:
            fields = {
                "meta_id": info.id,
                "status": info.status,
                "category": info.category,
                "components": list(info.components),
            }
            if (found := local.pop((info.name, info.language), None)) is not None:
                for key, value in fields.items():
                    setattr(found, key, value)
                result.updated += 1
            else:
                session.add(
                    Template(
                        tenant_id=tenant_id,
                        waba_id=waba_id,
                        name=info.name,
                        language=info.language,
                        **fields,
                    )
                )
                result.created += 1
        for gone in local.values():
            gone.status = "DELETED"
            result.removed += 1
    return result
