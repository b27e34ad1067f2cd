"""Sender allocation and the rule that picks the sender an agent uses to reach a contact.

The rule, first match wins:

1. the sender of the most recent conversation with the contact, if that sender is among
   the agent's allocated senders (the customer keeps talking to the same number) — while
   that conversation's 24-hour window is open, even if the number is unhealthy (a session
   message is not outreach; only a refused token or being out of service moves it);
2. the agent's own primary, then its secondaries in order;
3. for each of the agent's teams (by name): the team's primary, then its secondaries;

outside an open window only a sender fit for new outreach counts: active, healthy, not
FLAGGED/RESTRICTED by Meta, not RED (runtime/domain/sender_health.py). If allocated senders
exist but none is fit: ``409 no_healthy_sender``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox
from runtime.domain.errors import Conflict, Invalid
from runtime.domain.lookup import ensure_owned_ids
from runtime.domain.sender_health import outreach_blocker, session_blocker
from runtime.models import Conversation, Sender, SenderAllocation, Team, TeamMember


@dataclass(frozen=True)
class Route:
    sender: Sender
    reason: str  # conversation | agent_primary | agent_secondary | team_primary | team_secondary


async def set_allocation(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    holder: tuple[str, uuid.UUID],
    primary: uuid.UUID | None,
    secondaries: list[uuid.UUID],
) -> None:
    """Replace the allocation of a team or an agent (``holder`` = ("team"|"agent", id))."""
    if primary is not None and primary in secondaries:
        raise Invalid("duplicate_sender", "The primary sender cannot also be a secondary.")
    ids = [primary] if primary else []
    ids += secondaries
    ids = await ensure_owned_ids(session, Sender, ids, tenant_id, "sender_ids")
    if len(ids) != len(secondaries) + (1 if primary else 0):
        raise Invalid("duplicate_sender", "A sender appears twice in the secondaries.")
    column = SenderAllocation.team_id if holder[0] == "team" else SenderAllocation.agent_id
    await session.execute(delete(SenderAllocation).where(column == holder[1]))
    await session.flush()
    for position, sender_id in enumerate(ids, start=0 if primary else 1):
        session.add(
            SenderAllocation(
                tenant_id=tenant_id,
                sender_id=sender_id,
                team_id=holder[1] if holder[0] == "team" else None,
                agent_id=holder[1] if holder[0] == "agent" else None,
                kind="primary" if position == 0 else "secondary",
                position=position,
            )
        )


_Allocated = list[tuple[SenderAllocation, Sender]]  # one holder's, by position


@dataclass
class Allocations:
    """What the rule reads, for many agents and contacts at once (:func:`load_allocations`):
    the agents' own allocations, their teams (by name), those teams' allocations, and each
    contact's most recent conversation with its number."""

    by_agent: dict[uuid.UUID, _Allocated] = field(default_factory=dict)
    teams_of: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    by_team: dict[uuid.UUID, _Allocated] = field(default_factory=dict)
    last: dict[uuid.UUID, tuple[Conversation, Sender]] = field(default_factory=dict)

    def route(self, agent_id: uuid.UUID, contact_id: uuid.UUID, now: datetime) -> Route:
        """The sender ``agent_id`` uses to reach ``contact_id`` (rule in the module
        docstring); ``409`` when none may."""
        mine = _steps(self.by_agent.get(agent_id, []), "agent")
        team_steps = [
            _steps(self.by_team.get(team_id, []), "team")
            for team_id in self.teams_of.get(agent_id, [])
        ]
        allowed = {s.id for step in [mine, *team_steps] for s, _ in step}
        last = self.last.get(contact_id)
        if last is not None and last[1].id in allowed:
            conversation, sender = last
            if inbox.window_open(conversation, now) and session_blocker(sender) is None:
                return Route(sender, "conversation")
            if (found := _fit([(sender, "conversation")])) is not None:
                return Route(*found)
        for step in [mine, *team_steps]:
            if (found := _fit(step)) is not None:
                return Route(*found)
        if allowed:
            raise Conflict(
                "no_healthy_sender",
                "Every sender allocated to this agent or its teams is unhealthy (RED, flagged, "
                "restricted, token refused, payment issue) or out of service; none may start "
                "new outreach.",
            )
        raise Conflict(
            "no_sender_allocated", "No active sender is allocated to this agent or its teams."
        )

    def team_primary(self, team_id: uuid.UUID) -> Sender | None:
        """The team's first active number (its primary, else the next secondary)."""
        active = (s for _, s in self.by_team.get(team_id, []) if s.status == "active")
        return next(active, None)


def _steps(allocated: _Allocated, holder: str) -> list[tuple[Sender, str]]:
    return [(s, f"{holder}_{a.kind}") for a, s in allocated]


def _fit(candidates: list[tuple[Sender, str]]) -> tuple[Sender, str] | None:
    return next((c for c in candidates if outreach_blocker(c[0]) is None), None)


async def load_allocations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    agent_ids: Collection[uuid.UUID],
    contact_ids: Collection[uuid.UUID],
    team_ids: Collection[uuid.UUID] = (),
) -> Allocations:
    """The rule's inputs for ``agent_ids`` reaching ``contact_ids`` (plus the allocations of
    ``team_ids``) in at most four statements, however many agents and contacts."""
    found = Allocations()
    if agent_ids:
        found.by_agent = await _allocations(
            session, tenant_id, SenderAllocation.agent_id, agent_ids
        )
        memberships = await session.execute(
            select(TeamMember.agent_id, Team.id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.agent_id.in_(agent_ids), Team.tenant_id == tenant_id)
            .order_by(Team.name, Team.id)
        )
        for agent_id, team_id in memberships:
            found.teams_of.setdefault(agent_id, []).append(team_id)
    teams = {t for ids in found.teams_of.values() for t in ids} | set(team_ids)
    if teams:
        found.by_team = await _allocations(session, tenant_id, SenderAllocation.team_id, teams)
    if contact_ids and agent_ids:
        found.last = await _last_conversations(session, tenant_id, contact_ids)
    return found


async def _allocations(
    session: AsyncSession, tenant_id: uuid.UUID, column: Any, holder_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, _Allocated]:
    rows = await session.execute(
        select(column, SenderAllocation, Sender)
        .join(Sender, Sender.id == SenderAllocation.sender_id)
        .where(column.in_(holder_ids), SenderAllocation.tenant_id == tenant_id)
        .order_by(SenderAllocation.position)
    )
    by_holder: dict[uuid.UUID, _Allocated] = {}
    for holder_id, allocation, sender in rows:
        by_holder.setdefault(holder_id, []).append((allocation, sender))
    return by_holder


async def _last_conversations(
    session: AsyncSession, tenant_id: uuid.UUID, contact_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[Conversation, Sender]]:
    """Each contact's most recent conversation (by last message) and its number."""
    recency = Conversation.last_message_at.desc().nulls_last(), Conversation.id
    ranked = (
        select(
            Conversation.id,
            func.row_number()
            .over(partition_by=Conversation.contact_id, order_by=recency)
            .label("rank"),
        )
        .where(Conversation.contact_id.in_(contact_ids), Conversation.tenant_id == tenant_id)
        .subquery()
    )
    rows = await session.execute(
        select(Conversation, Sender)
        .join(Sender, Sender.id == Conversation.sender_id)
        .join(ranked, ranked.c.id == Conversation.id)
        .where(ranked.c.rank == 1)
    )
    return {conversation.contact_id: (conversation, sender) for conversation, sender in rows}


async def route_sender(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime,
) -> Route:
    """The sender ``agent_id`` uses to reach ``contact_id`` (rule in the module docstring)."""
    allocations = await load_allocations(session, tenant_id, [agent_id], [contact_id])
    return allocations.route(agent_id, contact_id, now)


async def allowed_sender_ids(session: AsyncSession, agent_id: uuid.UUID) -> set[uuid.UUID]:
    """Senders allocated to the agent directly or through its teams."""
    teams = select(TeamMember.team_id).where(TeamMember.agent_id == agent_id)
    rows = await session.execute(
        select(SenderAllocation.sender_id).where(
            (SenderAllocation.agent_id == agent_id) | SenderAllocation.team_id.in_(teams)
        )
    )
    return set(rows.scalars())


async def withdraw(session: AsyncSession, sender: Sender) -> None:
    """Take a number out of service: its allocations go; if it has conversations it stays,
    ``withdrawn`` and without its token, so their history is kept; otherwise it is deleted."""
    await session.execute(delete(SenderAllocation).where(SenderAllocation.sender_id == sender.id))
    if await session.scalar(select(Conversation.id).where(Conversation.sender_id == sender.id)):
        sender.status = "withdrawn"
        sender.access_token_encrypted = None
        sender.access_token_secret_ref = None
    else:
        await session.delete(sender)


async def add_to_team(session: AsyncSession, sender: Sender, team_id: uuid.UUID, role: str) -> None:
    """Make ``sender`` the team's primary, or append it to the team's secondaries."""
    allocations = await _allocations(session, sender.tenant_id, SenderAllocation.team_id, [team_id])
    current = allocations.get(team_id, [])
    primary = next((s.id for a, s in current if a.kind == "primary"), None)
    secondaries = [s.id for a, s in current if a.kind == "secondary" and s.id != sender.id]
    if role == "primary":
        if primary is not None and primary != sender.id:
            secondaries.insert(0, primary)
        primary = sender.id
    elif primary != sender.id and sender.id not in secondaries:
        secondaries.append(sender.id)
    await set_allocation(session, sender.tenant_id, ("team", team_id), primary, secondaries)
