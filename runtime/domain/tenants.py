"""Onboarding: a tenant with its built-in roles, and its first admin."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Conflict
from runtime.domain.passwords import require_strong_password
from runtime.domain.permissions import BUILTIN_ROLES
from runtime.domain.security import hash_password
from runtime.models import Agent, Role, Tenant


async def create_tenant(
    session: AsyncSession, slug: str, name: str, default_region: str = "ID"
) -> Tenant:
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict("tenant_exists", f"A tenant with slug {slug!r} already exists.")
    tenant = Tenant(slug=slug, name=name, default_region=default_region.upper())
    session.add(tenant)
    await session.flush()
    for role_name, (description, permissions) in BUILTIN_ROLES.items():
        session.add(
            Role(
                tenant_id=tenant.id,
                name=role_name,
                description=description,
                permissions=sorted(permissions),
                builtin=True,
            )
        )
    await session.flush()
    return tenant


async def builtin_role(session: AsyncSession, tenant: Tenant, name: str) -> Role:
    return (
        await session.execute(
            select(Role).where(Role.tenant_id == tenant.id, Role.name == name, Role.builtin)
        )
    ).scalar_one()


async def create_admin(
    session: AsyncSession, tenant: Tenant, email: str, name: str, password: str
) -> Agent:
    return await create_agent(session, tenant, email, name, password, "admin")


async def create_agent(
    session: AsyncSession, tenant: Tenant, email: str, name: str, password: str, role: str
) -> Agent:
    """An agent with one of the built-in roles (admin, supervisor, agent); ``password`` must
    pass the password policy (``422 weak_password``)."""
    require_strong_password(password)
    role_row = await builtin_role(session, tenant, role)
    agent = Agent(
        tenant_id=tenant.id,
        email=email.lower(),
        name=name,
        password_hash=hash_password(password),
        role_id=role_row.id,
        status="offline",
    )
    session.add(agent)
    await session.flush()
    return agent
