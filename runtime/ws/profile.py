"""What a connecting agent may receive: its tenant and routing keys, read from the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.events import ALL, agent_key, team_key
from runtime.domain.security import AccessClaims
from runtime.models import Agent, Role, TeamMember, Tenant

READ_ALL = "inbox:read:all"


@dataclass(frozen=True)
class AgentProfile:
    tenant: str
    keys: frozenset[str]
    head_seq: int  # the tenant's latest cursor: where a client without a cursor starts


async def load_profile(session: AsyncSession, claims: AccessClaims) -> AgentProfile | None:
    """None when the agent no longer exists in that tenant, is disabled, or the token's
    version is no longer the agent's (its sessions were ended)."""
    row = (
        await session.execute(
            select(
                Agent.status, Agent.token_version, Role.permissions, Tenant.slug, Tenant.event_seq
            )
            .join(Role, Role.id == Agent.role_id)
            .join(Tenant, Tenant.id == Agent.tenant_id)
            .where(Agent.id == claims.agent_id, Agent.tenant_id == claims.tenant_id)
        )
    ).one_or_none()
    if row is None or row.status == "disabled" or row.token_version != claims.version:
        return None
    teams = await session.scalars(
        select(TeamMember.team_id).where(TeamMember.agent_id == claims.agent_id)
    )
    keys = {agent_key(claims.agent_id), *(team_key(t) for t in teams)}
    if READ_ALL in (row.permissions or []):
        keys.add(ALL)
    return AgentProfile(row.slug, frozenset(keys), row.event_seq)
