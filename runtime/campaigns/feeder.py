"""The feeder: moves a running campaign's due recipients into the send queue, at the
campaign's rate cap, inside its send window, under each number's warm-up budget.

One round per campaign is one transaction holding the campaign row (``FOR UPDATE SKIP
LOCKED``: one feeder at a time per campaign, any number of processes). The round decides each
due recipient's send window, number, warm-up budget, parameters and rate-cap slot in memory,
then hands them all to ``runtime.outbound.submit_batch`` at once (the send queue's rules,
set-wise). Each recipient queued turns ``queued`` with its message id *in the transaction
that stores the message and its send-queue row*, so a kill anywhere rolls both back and the
next round picks the same ``pending`` row; the message's idempotency key (campaign, contact)
makes a second message for the pair impossible whatever happens: exactly once, across
restarts. The round hands out at most ``HORIZON`` seconds of the campaign's slots, so a pause
stops the campaign within that time."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.campaigns.health import pause_reason
from runtime.campaigns.launcher import start_if_due
from runtime.campaigns.sending import RECIPIENT_RULES, allocated_senders
from runtime.domain import warmup
from runtime.domain.campaigns import (
    MissingParameter,
    next_opening,
    over_frequency_cap,
    resolve_parameters,
)
from runtime.domain.consent import policy_of
from runtime.domain.eligibility import contact_zone
from runtime.domain.errors import DomainError
from runtime.domain.outbound import TemplateOut
from runtime.models import Campaign, CampaignRecipient, Contact, OutreachPolicy, Sender
from runtime.outbound import BatchRequest, Outcome, submit_batch
from runtime.settings import Settings

HORIZON = 2.0  # seconds of the campaign's rate-cap slots one round hands out


@dataclass
class _Round:
    """What one round of one campaign knows and has used."""

    campaign: Campaign
    now: datetime
    policy: OutreachPolicy
    next_slot: float
    senders: dict[uuid.UUID, Sender] = field(default_factory=dict)
    budgets: dict[uuid.UUID, warmup.Budget] = field(default_factory=dict)
    spent: dict[uuid.UUID, int] = field(default_factory=dict)
    allocated: dict[uuid.UUID, Sender | None] = field(default_factory=dict)  # by contact
    queued: int = 0

    def take_slot(self, sender_id: uuid.UUID) -> datetime:
        """The next rate-cap slot, and one of the number's warm-up budget (a request
        refused later leaves its slot unused: the rate only errs on the slow side)."""
        slot = max(self.now.timestamp(), self.next_slot)
        self.next_slot = slot + 60.0 / self.campaign.rate_per_minute
        self.spent[sender_id] = self.spent.get(sender_id, 0) + 1
        return datetime.fromtimestamp(slot, UTC)

    def budget_left(self, sender_id: uuid.UUID) -> bool:
        budget = self.budgets.get(sender_id)
        return budget is None or budget.remaining > self.spent.get(sender_id, 0)


def slots_open(campaign: Campaign, now: datetime, limit: int) -> int:
    """How many sends the rate cap allows to be handed out this round."""
    start = max(now.timestamp(), campaign.next_slot_at)
    room = now.timestamp() + HORIZON - start
    if room <= 0:
        return 0
    return min(limit, math.ceil(room * campaign.rate_per_minute / 60.0))  # slots in the horizon


async def start_due(session: AsyncSession, now: datetime) -> None:
    """Scheduled campaigns whose start time has come: expand and run them."""
    due = await session.scalars(
        select(Campaign)
        .where(Campaign.status == "scheduled")
        .where((Campaign.start_at.is_(None)) | (Campaign.start_at <= now))
        .with_for_update(skip_locked=True)
    )
    for campaign in list(due):
        await start_if_due(session, campaign, now)


async def running_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(select(Campaign.id).where(Campaign.status == "running")))


async def feed(
    session: AsyncSession, settings: Settings, campaign_id: uuid.UUID, now: datetime
) -> int:
    """One round of one campaign (the caller commits); returns how many it queued."""
    campaign = await session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "running")
        .with_for_update(skip_locked=True)
    )
    if campaign is None:
        return 0
    reason = await pause_reason(session, campaign)
    if reason is not None:
        campaign.status, campaign.pause_reason = "paused", reason
        return 0
    wanted = slots_open(campaign, now, settings.campaign_batch_size)
    if wanted == 0:
        return 0
    due = await _due(session, campaign, now, wanted)
    if not due:
        await _complete_if_done(session, campaign, now)
        return 0
    state = _Round(
        campaign, now, await policy_of(session, campaign.tenant_id), campaign.next_slot_at
    )
    capped = await over_frequency_cap(session, campaign, [c.id for _, c in due], now)
    await _load_senders(session, state, due)
    planned: list[tuple[CampaignRecipient, BatchRequest]] = []
    for recipient, contact in due:
        if contact.id in capped:
            _skip(recipient, "frequency_cap")
        elif (request := _plan(state, recipient, contact)) is not None:
            planned.append((recipient, request))
    requests = [request for _, request in planned]
    outcomes = await submit_batch(
        session, settings, campaign.tenant_id, campaign.created_by, requests, now
    )
    for (recipient, request), outcome in zip(planned, outcomes, strict=True):
        _apply(state, recipient, request, outcome)
    campaign.next_slot_at = state.next_slot
    return state.queued


async def _due(
    session: AsyncSession, campaign: Campaign, now: datetime, limit: int
) -> list[tuple[CampaignRecipient, Contact]]:
    rows = await session.execute(
        select(CampaignRecipient, Contact)
        .join(Contact, Contact.id == CampaignRecipient.contact_id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state == "pending",
            CampaignRecipient.not_before <= now,
        )
        .order_by(CampaignRecipient.not_before, CampaignRecipient.contact_id)
        .limit(limit)
        .with_for_update(of=CampaignRecipient, skip_locked=True)
    )
    return [(recipient, contact) for recipient, contact in rows]


async def _complete_if_done(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    pending = await session.scalar(
        select(func.count())
        .select_from(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.state == "pending")
    )
    if not pending:
        campaign.status, campaign.completed_at = "completed", now


async def _load_senders(
    session: AsyncSession, state: _Round, due: list[tuple[CampaignRecipient, Contact]]
) -> None:
    """The batch's numbers: the named ones dealt at launch, and the allocated ones of the
    recipients without one (read for all of them at once); then their warm-up budgets."""
    named = list({r.sender_id for r, _ in due if r.sender_id is not None})
    if named:
        found = await session.scalars(select(Sender).where(Sender.id.in_(named)))
        state.senders.update({s.id: s for s in found})
    unallocated = [contact for recipient, contact in due if recipient.sender_id is None]
    if unallocated:
        tenant_id = state.campaign.tenant_id
        state.allocated = await allocated_senders(session, tenant_id, unallocated, state.now)
        state.senders.update({s.id: s for s in state.allocated.values() if s is not None})
    if state.senders:
        budgets = await warmup.budgets(
            session, state.campaign.tenant_id, state.now, list(state.senders)
        )
        state.budgets.update(budgets)


def _sender_of(state: _Round, recipient: CampaignRecipient, contact: Contact) -> Sender | None:
    if recipient.sender_id is not None:
        return state.senders.get(recipient.sender_id)
    return state.allocated.get(contact.id)


def _plan(state: _Round, recipient: CampaignRecipient, contact: Contact) -> BatchRequest | None:
    """The recipient's request for this round, or None when it waits (send window, warm-up
    budget: ``not_before`` moves) or is skipped (no number, a parameter missing)."""
    campaign, now = state.campaign, state.now
    opening = next_opening(now, contact_zone(contact, state.policy), campaign.send_window)
    if opening is not None:
        recipient.not_before = opening  # outside the send window: wait, spend no slot
        return None
    sender = _sender_of(state, recipient, contact)
    if sender is None:
        _skip(recipient, "no_sender_allocated")
        return None
    if not state.budget_left(sender.id):
        tomorrow = now.astimezone(UTC).date() + timedelta(days=1)
        recipient.not_before = warmup.day_start(tomorrow)  # warm-up budget spent today
        return None
    try:
        parameters = resolve_parameters(campaign.parameters, contact)
    except MissingParameter as missing:
        _skip(recipient, f"missing_parameter:{missing.source}"[:60])
        return None
    outgoing = TemplateOut(campaign.template_name, campaign.template_language, parameters)
    key = f"campaign:{campaign.id}:{contact.id}"
    return BatchRequest(key, contact, sender, outgoing, state.take_slot(sender.id))


def _apply(
    state: _Round, recipient: CampaignRecipient, request: BatchRequest, outcome: Outcome
) -> None:
    """What the send queue answered: queued (now, or by an earlier round under the same
    key), skipped by a rule about the contact, or the campaign paused by a rule about it
    all; ``retry`` leaves the recipient pending for the next round."""
    if outcome.kind in ("queued", "duplicate"):
        recipient.state, recipient.message_id = "queued", outcome.message_id
        recipient.sender_id, recipient.queued_at = request.sender.id, state.now
        if outcome.kind == "queued":
            state.queued += 1
    elif outcome.kind == "refused" and outcome.error is not None:
        if outcome.error.code in RECIPIENT_RULES:
            _skip(recipient, outcome.error.code)
        elif state.campaign.status == "running":
            state.campaign.status, state.campaign.pause_reason = "paused", _reason(outcome.error)


def _skip(recipient: CampaignRecipient, rule: str) -> None:
    recipient.state, recipient.skip_rule = "skipped", rule


def _reason(refused: DomainError) -> str:
    return f"{refused.code}: {refused.message}"[:200]
