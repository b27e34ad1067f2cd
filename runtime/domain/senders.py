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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
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


async def _allocated(
    session: AsyncSession, column: Any, holder_id: uuid.UUID
) -> list[tuple[SenderAllocation, Sender]]:
    rows = await session.execute(
        select(SenderAllocation, Sender)
        .join(Sender, Sender.id == SenderAllocation.sender_id)
        .where(column == holder_id)
        .order_by(SenderAllocation.position)
    )
    return [(a, s) for a, s in rows]


def _fit(candidates: list[tuple[Sender, str]]) -> tuple[Sender, str] | None:
    return next((c for c in candidates if outreach_blocker(c[0]) is None), None)


async def _last_conversation(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[Conversation, Sender] | None:
    row = (
        await session.execute(
            select(Conversation, Sender)
            .join(Sender, Sender.id == Conversation.sender_id)
            .where(Conversation.contact_id == contact_id, Conversation.tenant_id == tenant_id)
            .order_by(Conversation.last_message_at.desc().nulls_last())
            .limit(1)
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def route_sender(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime,
) -> Route:
    """The sender ``agent_id`` uses to reach ``contact_id`` (rule in the module docstring)."""
    mine = [
        (s, "agent_primary" if a.kind == "primary" else "agent_secondary")
        for a, s in await _allocated(session, SenderAllocation.agent_id, agent_id)
    ]
    teams = (
        await session.execute(
            select(Team.id)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.agent_id == agent_id, Team.tenant_id == tenant_id)
            .order_by(Team.name)
        )
    ).scalars()
    team_steps = [
        [
            (s, "team_primary" if a.kind == "primary" else "team_secondary")
            for a, s in await _allocated(session, SenderAllocation.team_id, team_id)
        ]
        for team_id in list(teams)
    ]
    allowed = {s.id for s, _ in mine} | {s.id for step in team_steps for s, _ in step}
    last = await _last_conversation(session, tenant_id, contact_id)
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
    current = await _allocated(session, SenderAllocation.team_id, team_id)
    primary = next((s.id for a, s in current if a.kind == "primary"), None)
    secondaries = [s.id for a, s in current if a.kind == "secondary" and s.id != sender.id]
    if role == "primary":
        if primary is not None and primary != sender.id:
            secondaries.insert(0, primary)
        primary = sender.id
    elif primary != sender.id and sender.id not in secondaries:
        secondaries.append(sender.id)
    await set_allocation(session, sender.tenant_id, ("team", team_id), primary, secondaries)
