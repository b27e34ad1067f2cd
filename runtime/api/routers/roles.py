"""Custom roles with configurable permissions; built-in roles are read-only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy import select

from runtime.api.deps import Principal, PrincipalDep, SessionDep, perm
from runtime.api.schemas.people import PermissionOut, RoleCreate, RoleOut, RoleUpdate
from runtime.domain.audit import audit
from runtime.domain.errors import Conflict, Invalid
from runtime.domain.lookup import ensure_name_free, get_owned
from runtime.domain.permissions import PERMISSIONS, unknown_permissions
from runtime.domain.privileges import (
    ensure_an_admin_remains,
    ensure_may_grant,
    ensure_may_manage,
    is_admin,
)
from runtime.domain.sessions import permissions_changed
from runtime.models import Agent, Role

router = APIRouter(prefix="/api", tags=["roles"])


def _checked(perms: list[str]) -> list[str]:
    unknown = unknown_permissions(perms)
    if unknown:
        raise Invalid(
            "unknown_permission",
            f"Unknown permission(s): {', '.join(unknown)}.",
            [{"field": "permissions", "unknown": unknown}],
        )
    return sorted(set(perms))


def _checked_grant(principal: Principal, perms: list[str]) -> list[str]:
    """The permissions, known and held by the caller (who grants only what it holds)."""
    permissions = _checked(perms)
    ensure_may_grant(principal.permissions, permissions)
    return permissions


def _changeable(principal: Principal, role: Role) -> Role:
    """A custom role the caller neither holds nor is outranked by."""
    if role.builtin:
        raise Conflict("builtin_role", "Built-in roles cannot be changed; create a custom role.")
    if role.id == principal.agent.role_id:
        raise Conflict("own_role", "You cannot change or delete the role you hold.")
    ensure_may_manage(principal.permissions, "role", role.permissions)
    return role


@router.get("/permissions", response_model=list[PermissionOut], dependencies=[perm("roles:read")])
async def list_permissions() -> list[PermissionOut]:
    return [PermissionOut(name=n, description=d) for n, d in PERMISSIONS.items()]


@router.get("/roles", response_model=list[RoleOut], dependencies=[perm("roles:read")])
async def list_roles(principal: PrincipalDep, session: SessionDep) -> list[Role]:
    rows = await session.execute(
        select(Role).where(Role.tenant_id == principal.tenant_id).order_by(Role.name)
    )
    return list(rows.scalars())


@router.post(
    "/roles",
    response_model=RoleOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("roles:write")],
)
async def create_role(body: RoleCreate, principal: PrincipalDep, session: SessionDep) -> Role:
    permissions = _checked_grant(principal, body.permissions)
    await ensure_name_free(session, Role, principal.tenant_id, body.name)
    role = Role(
        tenant_id=principal.tenant_id,
        name=body.name,
        description=body.description,
        permissions=permissions,
    )
    session.add(role)
    await session.flush()
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "role.create",
        "role",
        role.id,
        {"name": role.name, "permissions": permissions},
    )
    await session.commit()
    return role


@router.get("/roles/{role_id}", response_model=RoleOut, dependencies=[perm("roles:read")])
async def get_role(role_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> Role:
    return await get_owned(session, Role, role_id, principal.tenant_id)


@router.patch("/roles/{role_id}", response_model=RoleOut, dependencies=[perm("roles:write")])
async def update_role(
    role_id: uuid.UUID, body: RoleUpdate, principal: PrincipalDep, session: SessionDep
) -> Role:
    role = _changeable(principal, await get_owned(session, Role, role_id, principal.tenant_id))
    if body.permissions is not None:
        permissions = _checked_grant(principal, body.permissions)
        holders = list(
            (await session.execute(select(Agent.id).where(Agent.role_id == role.id))).scalars()
        )
        if is_admin(role.permissions) and not is_admin(permissions):
            await ensure_an_admin_remains(session, principal.tenant_id, holders)
        role.permissions = permissions
        await permissions_changed(session, principal.tenant_id, holders)
    if body.name is not None:
        await ensure_name_free(session, Role, principal.tenant_id, body.name, except_id=role.id)
        role.name = body.name
    if body.description is not None:
        role.description = body.description
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "role.update",
        "role",
        role.id,
        body.model_dump(exclude_unset=True),
    )
    await session.commit()
    return role


@router.delete(
    "/roles/{role_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[perm("roles:write")],
)
async def delete_role(role_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    role = _changeable(principal, await get_owned(session, Role, role_id, principal.tenant_id))
    if await session.scalar(select(Agent.id).where(Agent.role_id == role.id).limit(1)):
        raise Conflict("role_in_use", "Agents still have this role; give them another first.")
    await session.delete(role)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "role.delete",
        "role",
        role_id,
        {"name": role.name},
    )
    await session.commit()
