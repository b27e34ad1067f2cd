"""One campaign message to one contact: the sender it goes through, then the send queue's own
entry point (runtime/outbound.submit: Meta's rules, eligibility, the durable queue row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox
from runtime.domain.campaigns import resolve_parameters
from runtime.domain.errors import Conflict
from runtime.domain.outbound import TemplateOut
from runtime.domain.senders import route_sender
from runtime.models import (
    Campaign,
    Contact,
    Message,
    Sender,
    SenderAllocation,
    SendQueueItem,
)
from runtime.outbound import submit
from runtime.settings import Settings

# Refusals that concern one contact: the recipient is skipped, naming the rule. Any other
# refusal (template gone or not approved, number out of service, token unreadable) concerns
# the whole campaign, which is paused with it as the reason.
RECIPIENT_RULES = frozenset(
    {
        "contact_do_not_contact",
        "contact_opted_out",
        "marketing_cooldown",
        "contact_has_no_phone",
        "no_sender_allocated",
    }
)


async def allocated_sender(session: AsyncSession, contact: Contact, now: datetime) -> Sender | None:
    """The number the allocation rule gives the contact's owner (runtime/domain/senders):
    its agent's route, else its team's primary; None for a contact in the open pool."""
    if contact.assigned_agent_id is not None:
        try:
            route = await route_sender(
                session, contact.tenant_id, contact.assigned_agent_id, contact.id, now
            )
        except Conflict:
            return None
        return route.sender
    if contact.assigned_team_id is None:
        return None
    found: Sender | None = await session.scalar(
        select(Sender)
        .join(SenderAllocation, SenderAllocation.sender_id == Sender.id)
        .where(
            SenderAllocation.team_id == contact.assigned_team_id,
            Sender.status == "active",
        )
        .order_by(SenderAllocation.position)
        .limit(1)
    )
    return found


async def queue_message(
    session: AsyncSession,
    settings: Settings,
    campaign: Campaign,
    contact: Contact,
    sender: Sender,
    now: datetime,
    slot: datetime | None = None,
) -> tuple[Message, SendQueueItem]:
    """Queue the campaign's template for ``contact`` through ``sender`` (no earlier than
    ``slot``, the campaign's rate-cap slot). Raises MissingParameter or the send path's
    DomainError; the caller commits."""
    parameters = resolve_parameters(campaign.parameters, contact)
    conversation = await inbox.conversation_for(
        session, campaign.tenant_id, sender.id, contact, now
    )
    outgoing = TemplateOut(campaign.template_name, campaign.template_language, parameters)
    message, item = await submit(
        session, settings, conversation, contact, sender, campaign.created_by, outgoing, now
    )
    if slot is not None and slot > item.not_before:
        item.not_before = slot
    return message, item
