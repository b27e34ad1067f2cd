"""One campaign message to one contact: the sender it goes through, then the send queue's own
entry point (runtime/outbound.submit: Meta's rules, eligibility, the durable queue row)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox
from runtime.domain.campaigns import resolve_parameters
from runtime.domain.errors import Conflict
from runtime.domain.outbound import TemplateOut
from runtime.domain.senders import Allocations, load_allocations
from runtime.models import Campaign, Contact, Message, Sender, SendQueueItem
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
        "template_text_too_long",  # this contact's values make a text too long
    }
)


async def allocated_senders(
    session: AsyncSession, tenant_id: uuid.UUID, contacts: list[Contact], now: datetime
) -> dict[uuid.UUID, Sender | None]:
    """By contact id, the number the allocation rule gives each contact's owner
    (runtime/domain/senders): its agent's route, else its team's first active number; None
    for a contact in the open pool or whose owner has no number fit to send. Read set-wise:
    at most four statements however many contacts."""
    agents = {c.assigned_agent_id for c in contacts if c.assigned_agent_id is not None}
    teams = {
        c.assigned_team_id
        for c in contacts
        if c.assigned_agent_id is None and c.assigned_team_id is not None
    }
    owned = [c.id for c in contacts if c.assigned_agent_id is not None]
    allocations = await load_allocations(session, tenant_id, agents, owned, teams)
    return {c.id: _allocated(allocations, c, now) for c in contacts}


def _allocated(allocations: Allocations, contact: Contact, now: datetime) -> Sender | None:
    if contact.assigned_agent_id is not None:
        try:
            return allocations.route(contact.assigned_agent_id, contact.id, now).sender
        except Conflict:
            return None
    if contact.assigned_team_id is None:
        return None
    return allocations.team_primary(contact.assigned_team_id)


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
