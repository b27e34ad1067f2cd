"""FastAPI dependencies: database session, authenticated principal, permission checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.clock import Clock
from runtime.domain.errors import Forbidden, Unauthorized
from runtime.domain.security import decode_access_token
from runtime.domain.sessions import token_current
from runtime.models import Agent, Role, Tenant
from runtime.outbound import OutboundPipeline
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient

_bearer = HTTPBearer(auto_error=False)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_whatsapp(request: Request) -> CloudAPIClient:
    client: CloudAPIClient = request.app.state.whatsapp
    return client


async def get_outbound(request: Request) -> OutboundPipeline:
    outbound: OutboundPipeline = request.app.state.outbound
    return outbound


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
WhatsAppDep = Annotated[CloudAPIClient, Depends(get_whatsapp)]
OutboundDep = Annotated[OutboundPipeline, Depends(get_outbound)]


@dataclass(frozen=True)
class Principal:
    """The authenticated agent, its tenant and its effective permissions."""

    agent: Agent
    tenant: Tenant
    permissions: frozenset[str] = field(default_factory=frozenset)
    # Plain copies: they stay readable after a rollback expires the ORM objects.
    agent_id: uuid.UUID = field(init=False)
    tenant_id: uuid.UUID = field(init=False)
    region: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "agent_id", self.agent.id)
        object.__setattr__(self, "tenant_id", self.tenant.id)
        object.__setattr__(self, "region", self.tenant.default_region)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


async def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("not_authenticated", "A bearer access token is required.")
    claims = decode_access_token(credentials.credentials, settings.jwt_secret.get_secret_value())
    if claims is None:
        raise Unauthorized("invalid_token", "The access token is invalid or expired.")
    row = (
        await session.execute(
            select(Agent, Tenant, Role, token_current(claims))
            .join(Tenant, Tenant.id == Agent.tenant_id)
            .join(Role, Role.id == Agent.role_id)
            .where(Agent.id == claims.agent_id, Agent.tenant_id == claims.tenant_id)
        )
    ).one_or_none()
    if row is None or not row[3]:
        raise Unauthorized("invalid_token", "The access token is invalid or expired.")
    agent, tenant, role, _ = row
    if agent.status == "disabled":
        raise Unauthorized("agent_disabled", "This agent is disabled.")
    return Principal(agent=agent, tenant=tenant, permissions=frozenset(role.permissions))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


class RequirePermission:
    """Dependency that admits a principal holding any one of ``permissions``.

    Instances are discoverable on the route (the permission-matrix test walks them).
    """

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions

    async def __call__(self, principal: PrincipalDep) -> Principal:
        if not any(principal.can(p) for p in self.permissions):
            raise Forbidden(
                "permission_denied",
                f"This action needs the permission {' or '.join(self.permissions)}.",
                {"required_any_of": list(self.permissions)},
            )
        return principal


def perm(*permissions: str) -> params.Depends:
    """Route dependency: ``@router.get(..., dependencies=[perm("agents:read")])``."""
    return Depends(RequirePermission(*permissions))
