"""Who may grant what: the rules that keep ``roles:write`` and ``agents:write`` from escalating.

A principal grants only permissions it holds, manages only roles and agents holding no more
than it does, and no change leaves a tenant without an active admin (an agent, not disabled,
whose role holds every permission of the catalogue).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Conflict, Forbidden
from runtime.domain.permissions import PERMISSIONS
from runtime.models import Agent, Role, Tenant


def _not_held(held: Collection[str], permissions: Iterable[str]) -> list[str]:
    return sorted(set(permissions) - set(held))


def ensure_may_grant(held: Collection[str], permissions: Iterable[str]) -> None:
    """403 ``permission_not_held`` when ``permissions`` include one the caller lacks."""
    missing = _not_held(held, permissions)
    if missing:
        raise Forbidden(
            "permission_not_held",
            f"You cannot grant permissions you do not hold: {', '.join(missing)}.",
            {"missing": missing},
        )


def ensure_may_manage(held: Collection[str], target: str, permissions: Iterable[str]) -> None:
    """403 ``<target>_outranks_caller`` when the role or agent holds a permission the caller
    lacks: otherwise the caller could strip, take over or remove someone above it."""
    missing = _not_held(held, permissions)
    if missing:
        raise Forbidden(
            f"{target}_outranks_caller",
            f"This {target} holds permissions you do not ({', '.join(missing)}); "
            "only someone holding them may change it.",
            {"missing": missing},
        )


def is_admin(permissions: Iterable[str]) -> bool:
    return set(PERMISSIONS) <= set(permissions)


def is_active_admin(status: str, permissions: Iterable[str]) -> bool:
    return status != "disabled" and is_admin(permissions)


async def ensure_an_admin_remains(
    session: AsyncSession, tenant_id: uuid.UUID, leaving: Collection[uuid.UUID]
) -> None:
    """409 ``last_admin`` when the agents in ``leaving`` are all the tenant's active admins.

    Call it before making the change. It locks the tenant row until commit (PostgreSQL;
    SQLite serialises writers), so two requests each demoting one of two admins run one
    after the other and the second sees the first's result.
    """
    # FOR NO KEY UPDATE: the lock event cursors take anyway; inserts referencing the tenant
    # (FOR KEY SHARE) go on.
    await session.execute(
        select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True)
    )
    roles = await session.execute(
        select(Role.id, Role.permissions).where(Role.tenant_id == tenant_id)
    )
    admin_roles = [role_id for role_id, permissions in roles if is_admin(permissions)]
    admins = await session.scalars(
        select(Agent.id).where(
            Agent.tenant_id == tenant_id,
            Agent.role_id.in_(admin_roles),
            Agent.status != "disabled",
        )
    )
    if set(admins) <= set(leaving):
        raise Conflict(
            "last_admin",
            "This is the tenant's last active admin; make another agent an admin first.",
        )
