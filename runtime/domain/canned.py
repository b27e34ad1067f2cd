"""Canned responses: replies an agent types as ``/shortcut``, tenant-wide or personal, with
placeholders filled from the conversation's contact and the agent."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Conflict, Forbidden, Invalid, NotFound
from runtime.domain.visibility import Viewer
from runtime.models import Agent, CannedResponse, Contact
from runtime.models.toolkit import TENANT_SCOPE

SHORTCUT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+)\.([A-Za-z0-9_]+)\s*\}\}|\{\{[^}]*\}\}")
CONTACT_FIELDS = ("name", "phone", "email")
AGENT_FIELDS = ("name", "email")


def scope_of(owner_agent_id: uuid.UUID | None) -> str:
    return TENANT_SCOPE if owner_agent_id is None else str(owner_agent_id)


def check_placeholders(body: str) -> None:
    """422 ``unknown_placeholder`` for a ``{{…}}`` that names neither ``contact.<field or
    attribute>`` nor ``agent.name`` / ``agent.email``."""
    for match in PLACEHOLDER.finditer(body):
        root, name = match.group(1), match.group(2)
        if root == "contact" or (root == "agent" and name in AGENT_FIELDS):
            continue
        raise Invalid(
            "unknown_placeholder",
            f"Unknown placeholder {match.group(0)}: use {{{{contact.name}}}}, "
            "{{contact.phone}}, {{contact.email}}, {{contact.<attribute>}} or {{agent.name}}.",
            {"placeholder": match.group(0)},
        )


def render(body: str, contact: Contact, agent: Agent) -> str:
    """The body with placeholders filled; a custom attribute the contact lacks is empty."""

    def value(match: re.Match[str]) -> str:
        root, name = match.group(1), match.group(2)
        if root == "agent":
            return str(getattr(agent, name, "") or "")
        if name in CONTACT_FIELDS:
            return str(getattr(contact, name) or "")
        attribute = (contact.attributes or {}).get(name)
        return "" if attribute is None else str(attribute)

    return PLACEHOLDER.sub(value, body)


def canned_json(canned: CannedResponse) -> dict[str, Any]:
    return {
        "id": str(canned.id),
        "scope": "tenant" if canned.owner_agent_id is None else "personal",
        "shortcut": canned.shortcut,
        "body": canned.body,
        "owner_agent_id": str(canned.owner_agent_id) if canned.owner_agent_id else None,
        "updated_at": canned.updated_at.isoformat() if canned.updated_at else None,
    }


def _usable_by(viewer: Viewer) -> Any:
    return (CannedResponse.tenant_id == viewer.tenant_id) & or_(
        CannedResponse.owner_agent_id.is_(None), CannedResponse.owner_agent_id == viewer.agent_id
    )


async def usable(session: AsyncSession, viewer: Viewer) -> list[CannedResponse]:
    """The tenant's and the viewer's own, by shortcut (personal first on a shared shortcut)."""
    rows = await session.scalars(select(CannedResponse).where(_usable_by(viewer)))
    return sorted(rows, key=lambda c: (c.shortcut, c.owner_agent_id is None))


async def find_shortcut(session: AsyncSession, viewer: Viewer, shortcut: str) -> CannedResponse:
    """The viewer's own ``/shortcut`` if it has one, else the tenant's; 404 otherwise."""
    for canned in await usable(session, viewer):
        if canned.shortcut == shortcut:
            return canned
    raise NotFound("Canned response")


def _require_manage(viewer: Viewer, owner_agent_id: uuid.UUID | None) -> None:
    if owner_agent_id is None and not viewer.can("canned:write"):
        raise Forbidden(
            "permission_denied",
            "Tenant-wide canned responses need canned:write.",
            {"required_any_of": ["canned:write"]},
        )


async def managed(session: AsyncSession, viewer: Viewer, canned_id: uuid.UUID) -> CannedResponse:
    """A canned response the viewer may change: its own, or the tenant's with canned:write.
    Another agent's personal one is indistinguishable from none (404)."""
    canned = await session.scalar(
        select(CannedResponse).where(CannedResponse.id == canned_id, _usable_by(viewer))
    )
    if canned is None:
        raise NotFound("Canned response")
    _require_manage(viewer, canned.owner_agent_id)
    return canned


async def create(
    session: AsyncSession, viewer: Viewer, personal: bool, shortcut: str, body: str
) -> CannedResponse:
    owner = viewer.agent_id if personal else None
    _require_manage(viewer, owner)
    check_placeholders(body)
    canned = CannedResponse(
        tenant_id=viewer.tenant_id,
        scope=scope_of(owner),
        owner_agent_id=owner,
        shortcut=shortcut,
        body=body,
    )
    session.add(canned)
    await flush_unique(session, shortcut)
    return canned


async def flush_unique(session: AsyncSession, shortcut: str) -> None:
    """Flush; a shortcut already used in the same scope is 409 ``shortcut_taken``."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "shortcut_taken",
            f"The shortcut /{shortcut} is already used here; pick another.",
            {"shortcut": shortcut},
        ) from exc
