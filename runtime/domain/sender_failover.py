"""Failover: new outreach (a template outside an open window) never goes from an unhealthy
sender. It moves to the next fit number of the allocation rule (runtime/domain/senders.py),
into that number's conversation with the contact; the switch is kept (``sender_switches``)
and told to whoever sees either conversation. An open window stays on its number."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox
from runtime.domain.errors import Conflict
from runtime.domain.events import record_event
from runtime.domain.sender_health import outreach_blocker
from runtime.domain.senders import route_sender
from runtime.domain.visibility import conversation_audience
from runtime.models import Contact, Conversation, Message, Sender, SenderSwitch


@dataclass(frozen=True)
class Reroute:
    """Where a send goes instead, and why the first sender was passed over."""

    from_conversation: Conversation
    from_sender: Sender
    conversation: Conversation
    sender: Sender
    reason: str


async def reroute(
    session: AsyncSession,
    conversation: Conversation,
    contact: Contact,
    sender: Sender,
    agent_id: uuid.UUID,
    now: datetime,
) -> Reroute | None:
    """None when the send may stay (an open window, or a fit sender); else the next fit
    sender of ``agent_id``'s allocation and its conversation with the contact (created,
    owned like the one left, if missing). ``409 no_healthy_sender`` if there is none."""
    reason = outreach_blocker(sender)
    if reason is None or inbox.window_open(conversation, now):
        return None
    try:
        route = await route_sender(session, conversation.tenant_id, agent_id, contact.id, now)
    except Conflict as exc:
        raise Conflict(
            "no_healthy_sender",
            f"Sender {sender.display_number} is {reason} and may not start new outreach, and "
            "no other healthy sender is allocated to you or your teams.",
            {"sender_id": str(sender.id), "reason": reason, "allocation": exc.code},
        ) from exc
    target = await inbox.conversation_for(
        session, conversation.tenant_id, route.sender.id, contact, now
    )
    if target.assigned_agent_id is None and target.assigned_team_id is None:
        target.assigned_agent_id = conversation.assigned_agent_id
        target.assigned_team_id = conversation.assigned_team_id
    await session.flush()
    return Reroute(conversation, sender, target, route.sender, reason)


async def record(session: AsyncSession, switch: Reroute, message: Message, now: datetime) -> None:
    """Keep the switch and tell both conversations' audiences."""
    row = SenderSwitch(
        id=uuid.uuid4(),
        tenant_id=message.tenant_id,
        contact_id=switch.conversation.contact_id,
        from_conversation_id=switch.from_conversation.id,
        to_conversation_id=switch.conversation.id,
        from_sender_id=switch.from_sender.id,
        to_sender_id=switch.sender.id,
        reason=switch.reason,
        message_id=message.id,
        created_at=now,
    )
    session.add(row)
    audience = conversation_audience(switch.from_conversation)
    audience += [k for k in conversation_audience(switch.conversation) if k not in audience]
    await record_event(
        session, message.tenant_id, "conversation.sender_switched", switch_json(row), audience
    )


async def switches_of(session: AsyncSession, conversation: Conversation) -> list[SenderSwitch]:
    """Switches away from or into ``conversation``, newest first."""
    rows = await session.execute(
        select(SenderSwitch)
        .where(
            SenderSwitch.tenant_id == conversation.tenant_id,
            or_(
                SenderSwitch.from_conversation_id == conversation.id,
                SenderSwitch.to_conversation_id == conversation.id,
            ),
        )
        .order_by(SenderSwitch.created_at.desc(), SenderSwitch.id.desc())
        .limit(100)
    )
    return list(rows.scalars())


def switch_json(switch: SenderSwitch) -> dict[str, Any]:
    return {
        "id": str(switch.id),
        "contact_id": str(switch.contact_id),
        "from_conversation_id": str(switch.from_conversation_id),
        "to_conversation_id": str(switch.to_conversation_id),
        "from_sender_id": str(switch.from_sender_id),
        "to_sender_id": str(switch.to_sender_id),
        "reason": switch.reason,
        "message_id": str(switch.message_id),
        "created_at": switch.created_at.isoformat(),
    }
