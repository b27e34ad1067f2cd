"""Teams and their membership."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import Principal, PrincipalDep, SessionDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.people import MembersIn, TeamCreate, TeamOut, TeamUpdate
from runtime.domain.audit import audit
from runtime.domain.lookup import ensure_name_free, ensure_owned_ids, get_owned
from runtime.domain.sessions import rescope_sockets
from runtime.models import Agent, Team, TeamMember

router = APIRouter(prefix="/api/teams", tags=["teams"])


async def _out(session: AsyncSession, teams: list[Team]) -> list[TeamOut]:
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.agent_id).where(
            TeamMember.team_id.in_([t.id for t in teams])
        )
    )
    members: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for team_id, agent_id in rows:
        members[team_id].append(agent_id)
    return [
        TeamOut.model_validate(t).model_copy(update={"member_ids": members.get(t.id, [])})
        for t in teams
    ]


async def _member_ids(session: AsyncSession, team_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.execute(select(TeamMember.agent_id).where(TeamMember.team_id == team_id))
    return set(rows.scalars())


async def _add_members(
    session: AsyncSession, team: Team, agent_ids: list[uuid.UUID], replace: bool
) -> None:
    """Add ``agent_ids`` (or make them the only members); the agents who joined or left get
    their sockets re-scoped (a team's pool is part of what they may see)."""
    agent_ids = await ensure_owned_ids(session, Agent, agent_ids, team.tenant_id, "agent_ids")
    before = await _member_ids(session, team.id)
    if replace:
        await session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
        current: set[uuid.UUID] = set()
    else:
        current = before
    session.add_all(
        TeamMember(team_id=team.id, agent_id=a, tenant_id=team.tenant_id)
        for a in agent_ids
        if a not in current
    )
    after = set(agent_ids) if replace else before | set(agent_ids)
    await rescope_sockets(session, team.tenant_id, list(before ^ after), "teams changed")


@router.get("", response_model=Page[TeamOut], dependencies=[perm("teams:read")])
async def list_teams(
    principal: PrincipalDep,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[TeamOut]:
    stmt = select(Team).where(Team.tenant_id == principal.tenant_id)
    rows, next_cursor = await paginate(session, stmt, Team, cursor, limit)
    return Page(items=await _out(session, rows), next_cursor=next_cursor)


@router.post(
    "",
    response_model=TeamOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("teams:write")],
)
async def create_team(body: TeamCreate, principal: PrincipalDep, session: SessionDep) -> TeamOut:
    await ensure_name_free(session, Team, principal.tenant_id, body.name)
    team = Team(
        tenant_id=principal.tenant_id,
        name=body.name,
        description=body.description,
        assignment_strategy=body.assignment_strategy,
    )
    session.add(team)
    await session.flush()
    await _add_members(session, team, body.member_ids, replace=True)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "team.create",
        "team",
        team.id,
        {"name": body.name},
    )
    await session.commit()
    return (await _out(session, [team]))[0]


@router.get("/{team_id}", response_model=TeamOut, dependencies=[perm("teams:read")])
async def get_team(team_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> TeamOut:
    return (await _out(session, [await get_owned(session, Team, team_id, principal.tenant_id)]))[0]


@router.patch("/{team_id}", response_model=TeamOut, dependencies=[perm("teams:write")])
async def update_team(
    team_id: uuid.UUID, body: TeamUpdate, principal: PrincipalDep, session: SessionDep
) -> TeamOut:
    team = await get_owned(session, Team, team_id, principal.tenant_id)
    if body.name is not None:
        await ensure_name_free(session, Team, principal.tenant_id, body.name, except_id=team.id)
        team.name = body.name
    if body.description is not None:
        team.description = body.description
    if body.assignment_strategy is not None:
        team.assignment_strategy = body.assignment_strategy
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "team.update",
        "team",
        team.id,
        body.model_dump(exclude_unset=True),
    )
    await session.commit()
    return (await _out(session, [team]))[0]


@router.delete(
    "/{team_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[perm("teams:write")]
)
async def delete_team(team_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    team = await get_owned(session, Team, team_id, principal.tenant_id)
    members = await _member_ids(session, team.id)
    await session.delete(team)
    await rescope_sockets(session, principal.tenant_id, list(members), "teams changed")
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "team.delete",
        "team",
        team_id,
        {"name": team.name},
    )
    await session.commit()


async def _change_members(
    team_id: uuid.UUID,
    body: MembersIn,
    principal: Principal,
    session: AsyncSession,
    replace: bool,
) -> TeamOut:
    team = await get_owned(session, Team, team_id, principal.tenant_id)
    await _add_members(session, team, body.agent_ids, replace=replace)
    action = "team.members.replace" if replace else "team.members.add"
    audit(session, principal.tenant_id, principal.agent_id, action, "team", team.id,
          {"agent_ids": [str(a) for a in body.agent_ids]})  # fmt: skip
    await session.commit()
    return (await _out(session, [team]))[0]


@router.put("/{team_id}/members", response_model=TeamOut, dependencies=[perm("teams:write")])
async def replace_members(
    team_id: uuid.UUID, body: MembersIn, principal: PrincipalDep, session: SessionDep
) -> TeamOut:
    """The team's members become exactly ``agent_ids``."""
    return await _change_members(team_id, body, principal, session, replace=True)


@router.post("/{team_id}/members", response_model=TeamOut, dependencies=[perm("teams:write")])
async def add_members(
    team_id: uuid.UUID, body: MembersIn, principal: PrincipalDep, session: SessionDep
) -> TeamOut:
    """``agent_ids`` join the team (members already in it stay)."""
    return await _change_members(team_id, body, principal, session, replace=False)


@router.delete(
    "/{team_id}/members/{agent_id}", response_model=TeamOut, dependencies=[perm("teams:write")]
)
async def remove_member(
    team_id: uuid.UUID, agent_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> TeamOut:
    team = await get_owned(session, Team, team_id, principal.tenant_id)
    await get_owned(session, Agent, agent_id, principal.tenant_id)
    await session.execute(
        delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.agent_id == agent_id)
    )
    await rescope_sockets(session, principal.tenant_id, [agent_id], "teams changed")
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "team.members.remove",
        "team",
        team.id,
        {"agent_id": str(agent_id)},
    )
    await session.commit()
    return (await _out(session, [team]))[0]
