"""What a connecting agent may receive: its tenant and routing keys, read from the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.security import AccessClaims
from runtime.domain.sessions import token_current
from runtime.domain.visibility import socket_keys
from runtime.models import Agent, Role, TeamMember, Tenant

# status, permissions, slug, seq, current
_AgentRow = Row[str, list[str], str, int, bool]


@dataclass(frozen=True)
class AgentProfile:
    tenant: str
    keys: frozenset[str]
    # The tenant's latest cursor when the agent was checked: where a client without a cursor
    # starts, and the line after which session control events concern this socket.
    head_seq: int


async def _admitted(session: AsyncSession, claims: AccessClaims) -> _AgentRow | None:
    """The agent's row when the token still admits it: the agent exists in that tenant, is
    not disabled, the token's version is the agent's (its sessions were not all ended) and its
    sign-in was not ended (logout, refresh-token reuse)."""
    row = (
        await session.execute(
            select(
                Agent.status,
                Role.permissions,
                Tenant.slug,
                Tenant.event_seq,
                token_current(claims).label("current"),
            )
            .join(Role, Role.id == Agent.role_id)
            .join(Tenant, Tenant.id == Agent.tenant_id)
            .where(Agent.id == claims.agent_id, Agent.tenant_id == claims.tenant_id)
        )
    ).one_or_none()
    if row is None or not row.current or row.status == "disabled":
        return None
    return row


async def token_admits(session: AsyncSession, claims: AccessClaims) -> bool:
    """Whether a (re-)presented token still admits its agent (the ``auth`` frame)."""
    return await _admitted(session, claims) is not None


async def load_profile(session: AsyncSession, claims: AccessClaims) -> AgentProfile | None:
    """The profile of the token's agent, or None when the token no longer admits it."""
    row = await _admitted(session, claims)
    if row is None:
        return None
    teams = list(
        await session.scalars(
            select(TeamMember.team_id).where(TeamMember.agent_id == claims.agent_id)
        )
    )
    keys = socket_keys(claims.agent_id, row.permissions or [], teams)
    return AgentProfile(row.slug, keys, row.event_seq)
