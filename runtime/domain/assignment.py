"""The case pool: contacts assigned to agents/teams, claimed, released, reassigned.

Every change writes an AssignmentEvent (who, when, from, to), moves the contact's
conversations along, and emits a ``contact.assigned`` event to everyone concerned.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import utcnow
from runtime.db.config_cache import config_cache
from runtime.domain.errors import Conflict, Invalid
from runtime.domain.events import record_event
from runtime.domain.visibility import contact_owner_audience
from runtime.models import (
    Agent,
    AssignmentEvent,
    Contact,
    Conversation,
    SenderAllocation,
    Team,
    TeamMember,
)


async def change_owner(
    session: AsyncSession,
    contact: Contact,
    action: str,
    actor_id: uuid.UUID | None,
    to_agent_id: uuid.UUID | None,
    to_team_id: uuid.UUID | None,
) -> AssignmentEvent:
    entry = AssignmentEvent(
        tenant_id=contact.tenant_id,
        contact_id=contact.id,
        action=action,
        actor_agent_id=actor_id,
        from_agent_id=contact.assigned_agent_id,
        to_agent_id=to_agent_id,
        from_team_id=contact.assigned_team_id,
        to_team_id=to_team_id,
        created_at=utcnow(),
    )
    session.add(entry)
    contact.assigned_agent_id = to_agent_id
    contact.assigned_team_id = to_team_id
    contact.updated_at = entry.created_at
    await session.execute(
        update(Conversation)
        .where(Conversation.contact_id == contact.id)
        .values(assigned_agent_id=to_agent_id, assigned_team_id=to_team_id)
    )
    # Whoever could see the contact before or after the change.
    audience = contact_owner_audience(entry.from_agent_id, entry.from_team_id)
    audience += contact_owner_audience(to_agent_id, to_team_id)
    await record_event(
        session,
        contact.tenant_id,
        "contact.assigned",
        {
            "contact_id": str(contact.id),
            "action": action,
            "from_agent_id": _str(entry.from_agent_id),
            "to_agent_id": _str(to_agent_id),
            "from_team_id": _str(entry.from_team_id),
            "to_team_id": _str(to_team_id),
        },
        audience,
    )
    return entry


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


async def _eligible_members(session: AsyncSession, team: Team) -> list[Agent]:
    """Members who can take work: online ones if any, else everyone not disabled."""
    members = list(
        (
            await session.execute(
                select(Agent)
                .join(TeamMember, TeamMember.agent_id == Agent.id)
                .where(TeamMember.team_id == team.id, Agent.status != "disabled")
                .order_by(Agent.id)
            )
        ).scalars()
    )
    online = [a for a in members if a.status == "online"]
    return online or members


async def pick_agent(session: AsyncSession, team: Team) -> uuid.UUID | None:
    """The next agent of ``team`` by its strategy, or None (manual, or nobody eligible)."""
    if team.assignment_strategy == "manual":
        return None
    members = await _eligible_members(session, team)
    if not members:
        return None
    if team.assignment_strategy == "least_loaded":
        rows = await session.execute(
            select(Contact.assigned_agent_id, func.count())
            .where(Contact.assigned_agent_id.in_([a.id for a in members]))
            .group_by(Contact.assigned_agent_id)
        )
        loads = {agent_id: count for agent_id, count in rows}
        chosen = min(members, key=lambda a: (loads.get(a.id, 0), a.id))
    else:
        ids = [a.id for a in members]
        last = team.last_assigned_agent_id
        later = [i for i in ids if last is not None and i > last]
        chosen = next(a for a in members if a.id == (later[0] if later else ids[0]))
    team.last_assigned_agent_id = chosen.id
    return chosen.id


async def assign(
    session: AsyncSession,
    contact: Contact,
    actor_id: uuid.UUID,
    agent: Agent | None,
    team: Team | None,
) -> AssignmentEvent:
    """Supervisor assignment: to an agent, to a team (auto-picking an agent by the team's
    strategy), or both (the agent must then be a member of the team)."""
    if agent is not None and agent.status == "disabled":
        raise Invalid("agent_disabled", "A disabled agent cannot receive contacts.")
    if agent is not None and team is not None:
        member = await session.scalar(
            select(TeamMember.agent_id).where(
                TeamMember.team_id == team.id, TeamMember.agent_id == agent.id
            )
        )
        if member is None:
            raise Invalid("not_a_member", "The agent is not a member of that team.")
    to_agent = agent.id if agent else (await pick_agent(session, team) if team else None)
    action = "assign" if contact.assigned_agent_id is None else "reassign"
    return await change_owner(
        session, contact, action, actor_id, to_agent, team.id if team else None
    )


async def _holding_team(session: AsyncSession, sender_id: uuid.UUID) -> Team | None:
    """The team holding the number (its primary holder first); its id kept across the
    inbound processor's rounds until allocations or team names change
    (runtime/db/config_cache.py)."""
    cache: dict[uuid.UUID, uuid.UUID | None] = config_cache(session, "holding_team")
    if sender_id not in cache:
        cache[sender_id] = await session.scalar(
            select(Team.id)
            .join(SenderAllocation, SenderAllocation.team_id == Team.id)
            .where(SenderAllocation.sender_id == sender_id)
            .order_by(SenderAllocation.position, Team.name)
            .limit(1)
        )
    team_id = cache[sender_id]
    return None if team_id is None else await session.get(Team, team_id)


async def route_inbound(session: AsyncSession, contact: Contact, sender_id: uuid.UUID) -> None:
    """A customer nobody owns writes in: the contact goes to the team holding that number
    (its primary holder first) and the team's strategy picks the agent."""
    if contact.assigned_agent_id is not None or contact.assigned_team_id is not None:
        return
    team = await _holding_team(session, sender_id)
    if team is not None:
        await change_owner(session, contact, "auto", None, await pick_agent(session, team), team.id)


async def claim(session: AsyncSession, contact: Contact, agent_id: uuid.UUID) -> AssignmentEvent:
    """An agent takes a pooled contact (no agent; team-less or of one of the agent's teams)."""
    if contact.assigned_agent_id is not None:
        raise Conflict(
            "already_assigned", "This contact is already assigned; it is not in the pool."
        )
    if contact.assigned_team_id is not None and not await session.scalar(
        select(TeamMember.agent_id).where(
            TeamMember.team_id == contact.assigned_team_id, TeamMember.agent_id == agent_id
        )
    ):
        raise Conflict("not_in_your_pool", "This contact is in another team's pool.")
    # Compare-and-set so two agents claiming at once cannot both win.
    won = await session.execute(
        update(Contact)
        .where(Contact.id == contact.id, Contact.assigned_agent_id.is_(None))
        .values(assigned_agent_id=agent_id)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("already_assigned", "Someone claimed this contact first.")
    return await change_owner(
        session, contact, "claim", agent_id, agent_id, contact.assigned_team_id
    )


async def release(session: AsyncSession, contact: Contact, actor_id: uuid.UUID) -> AssignmentEvent:
    """Back to the pool: no agent; the team (if any) keeps it in its pool."""
    if contact.assigned_agent_id is None:
        raise Conflict("not_assigned", "This contact is already in the pool.")
    return await change_owner(session, contact, "release", actor_id, None, contact.assigned_team_id)
