"""Agents: the system's users. CRUD, role, status, team membership."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import Principal, PrincipalDep, SessionDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.people import (
    AgentCreate,
    AgentOut,
    AgentStatus,
    AgentUpdate,
    LocaleIn,
    StatusIn,
)
from runtime.domain.audit import audit
from runtime.domain.errors import Conflict
from runtime.domain.events import record_event
from runtime.domain.lookup import ensure_owned_ids, get_owned
from runtime.domain.privileges import (
    ensure_an_admin_remains,
    ensure_may_grant,
    ensure_may_manage,
    is_active_admin,
)
from runtime.domain.security import hash_password
from runtime.domain.sessions import end_sessions, permissions_changed, rescope_sockets
from runtime.domain.visibility import agent_presence_audience
from runtime.models import Agent, Role, Team, TeamMember

router = APIRouter(prefix="/api/agents", tags=["agents"])
me_router = APIRouter(prefix="/api/me", tags=["agents"])


async def team_ids_of(
    session: AsyncSession, agent_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(TeamMember.agent_id, TeamMember.team_id).where(TeamMember.agent_id.in_(agent_ids))
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for agent_id, team_id in rows:
        out[agent_id].append(team_id)
    return out


async def _out(session: AsyncSession, agents: list[Agent]) -> list[AgentOut]:
    teams = await team_ids_of(session, [a.id for a in agents])
    return [
        AgentOut.model_validate(a).model_copy(update={"team_ids": teams.get(a.id, [])})
        for a in agents
    ]


async def _set_teams(
    session: AsyncSession, agent: Agent, team_ids: list[uuid.UUID], tenant_id: uuid.UUID
) -> None:
    team_ids = await ensure_owned_ids(session, Team, team_ids, tenant_id, "team_ids")
    before = (await team_ids_of(session, [agent.id])).get(agent.id, [])
    await session.execute(delete(TeamMember).where(TeamMember.agent_id == agent.id))
    session.add_all(TeamMember(team_id=t, agent_id=agent.id, tenant_id=tenant_id) for t in team_ids)
    if set(before) != set(team_ids):
        await rescope_sockets(session, tenant_id, [agent.id], "teams changed")


async def _status_changed(session: AsyncSession, agent: Agent, new_status: str) -> None:
    agent.status = new_status
    await record_event(
        session,
        agent.tenant_id,
        "agent.status",
        {"agent_id": str(agent.id), "status": new_status},
        agent_presence_audience(agent.id),
    )


@router.get("", response_model=Page[AgentOut], dependencies=[perm("agents:read")])
async def list_agents(
    principal: PrincipalDep,
    session: SessionDep,
    status_: Annotated[AgentStatus | None, Query(alias="status")] = None,
    team_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AgentOut]:
    stmt = select(Agent).where(Agent.tenant_id == principal.tenant_id)
    if status_:
        stmt = stmt.where(Agent.status == status_)
    if team_id:
        stmt = stmt.join(TeamMember, TeamMember.agent_id == Agent.id).where(
            TeamMember.team_id == team_id
        )
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(Agent.email.like(like) | Agent.name.ilike(like))
    rows, next_cursor = await paginate(session, stmt, Agent, cursor, limit)
    return Page(items=await _out(session, rows), next_cursor=next_cursor)


@router.post(
    "",
    response_model=AgentOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("agents:write")],
)
async def create_agent(body: AgentCreate, principal: PrincipalDep, session: SessionDep) -> AgentOut:
    await _grantable_role(principal, session, body.role_id)
    email = body.email.lower()
    if await session.scalar(
        select(Agent.id).where(Agent.tenant_id == principal.tenant_id, Agent.email == email)
    ):
        raise Conflict("email_taken", f"An agent with e-mail {email} already exists.")
    agent = Agent(
        tenant_id=principal.tenant_id,
        email=email,
        name=body.name,
        password_hash=hash_password(body.password),
        role_id=body.role_id,
        status=body.status,
    )
    session.add(agent)
    await session.flush()
    await _set_teams(session, agent, body.team_ids, principal.tenant_id)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "agent.create",
        "agent",
        agent.id,
        {"email": email, "role_id": str(body.role_id)},
    )
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent create with the same e-mail
        raise Conflict("email_taken", f"An agent with e-mail {email} already exists.") from exc
    return (await _out(session, [agent]))[0]


@router.get("/{agent_id}", response_model=AgentOut, dependencies=[perm("agents:read")])
async def get_agent(agent_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> AgentOut:
    agent = await get_owned(session, Agent, agent_id, principal.tenant_id)
    return (await _out(session, [agent]))[0]


async def _grantable_role(principal: Principal, session: AsyncSession, role_id: uuid.UUID) -> Role:
    """The tenant's role, if it holds no permission the caller lacks."""
    role = await get_owned(session, Role, role_id, principal.tenant_id)
    ensure_may_grant(principal.permissions, role.permissions)
    return role


async def _manageable(
    principal: Principal, session: AsyncSession, agent_id: uuid.UUID
) -> tuple[Agent, Role]:
    """The tenant's agent and its role, if that role holds no permission the caller lacks."""
    agent = await get_owned(session, Agent, agent_id, principal.tenant_id)
    role = await get_owned(session, Role, agent.role_id, principal.tenant_id)
    ensure_may_manage(principal.permissions, "agent", role.permissions)
    return agent, role


def _refuse_self_lockout(principal: Principal, agent: Agent, body: AgentUpdate) -> None:
    if agent.id == principal.agent_id and (
        body.status == "disabled" or (body.role_id and body.role_id != agent.role_id)
    ):
        raise Conflict("self_lockout", "You cannot disable yourself or change your own role.")


def _sessions_end_because(agent: Agent, body: AgentUpdate) -> str | None:
    """Why this change signs the agent out everywhere, if it does."""
    if body.status == "disabled" and agent.status != "disabled":
        return "disabled"
    return "password_reset" if body.password is not None else None


@router.patch("/{agent_id}", response_model=AgentOut, dependencies=[perm("agents:write")])
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, principal: PrincipalDep, session: SessionDep
) -> AgentOut:
    agent, role = await _manageable(principal, session, agent_id)
    _refuse_self_lockout(principal, agent, body)
    new_role = role
    if body.role_id is not None and body.role_id != agent.role_id:
        new_role = await _grantable_role(principal, session, body.role_id)
    if is_active_admin(agent.status, role.permissions) and not is_active_admin(
        body.status or agent.status, new_role.permissions
    ):
        await ensure_an_admin_remains(session, principal.tenant_id, [agent.id])
    changes = body.model_dump(exclude_unset=True, exclude={"password"}, mode="json")
    if new_role is not role:
        agent.role_id = new_role.id
        await permissions_changed(session, principal.tenant_id, [agent.id])
    if body.name is not None:
        agent.name = body.name
    if body.password is not None:
        agent.password_hash = hash_password(body.password)
        changes["password"] = "changed"
    if body.team_ids is not None:
        await _set_teams(session, agent, body.team_ids, principal.tenant_id)
    ending = _sessions_end_because(agent, body)
    if body.status is not None and body.status != agent.status:
        await _status_changed(session, agent, body.status)
    if ending:
        await end_sessions(session, agent, ending)
    audit(
        session, principal.tenant_id, principal.agent_id, "agent.update", "agent", agent.id, changes
    )
    await session.commit()
    return (await _out(session, [agent]))[0]


@router.delete(
    "/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[perm("agents:write")]
)
async def delete_agent(agent_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    agent, role = await _manageable(principal, session, agent_id)
    if agent.id == principal.agent_id:
        raise Conflict("self_lockout", "You cannot delete yourself.")
    if is_active_admin(agent.status, role.permissions):
        await ensure_an_admin_remains(session, principal.tenant_id, [agent.id])
    await end_sessions(session, agent, "deleted")  # recorded while the agent row still exists
    await session.delete(agent)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "agent.delete",
        "agent",
        agent_id,
        {"email": agent.email},
    )
    await session.commit()


@me_router.put("/status", response_model=AgentOut)
async def set_my_status(body: StatusIn, principal: PrincipalDep, session: SessionDep) -> AgentOut:
    """Any signed-in agent may switch its own presence (online / away / offline)."""
    agent = principal.agent
    if body.status != agent.status:
        await _status_changed(session, agent, body.status)
        await session.commit()
    return (await _out(session, [agent]))[0]


@me_router.put("/locale", response_model=AgentOut)
async def set_my_locale(body: LocaleIn, principal: PrincipalDep, session: SessionDep) -> AgentOut:
    """Any signed-in agent may choose its UI language (applied at its next sign-in too)."""
    principal.agent.locale = body.locale
    await session.commit()
    return (await _out(session, [principal.agent]))[0]
