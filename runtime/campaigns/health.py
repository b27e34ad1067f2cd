"""When a running campaign must stop by itself: a number it uses turned RED or FLAGGED (or
went out of service), or too many of its latest sends failed."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.warmup import BAD_QUALITY
from runtime.models import Campaign, CampaignRecipient, Message, Sender

FAILURE_WINDOW = 200  # the latest sends the failure rate is taken over
FAILURE_MIN_SAMPLE = 20  # fewer outcomes than this say nothing yet
UNSETTLED = ("queued", "sending")


async def senders_in_use(session: AsyncSession, campaign: Campaign) -> list[uuid.UUID]:
    """The named numbers, or for ``allocated`` those messages went through so far."""
    if campaign.sender_mode == "named":
        return [uuid.UUID(s) for s in campaign.sender_ids]
    rows = await session.scalars(
        select(CampaignRecipient.sender_id)
        .where(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.sender_id.is_not(None)
        )
        .distinct()
    )
    return [s for s in rows if s is not None]


async def failure_rate(session: AsyncSession, campaign: Campaign) -> tuple[int, int]:
    """(failed, settled) among the campaign's latest ``FAILURE_WINDOW`` settled sends."""
    statuses = list(
        await session.scalars(
            select(Message.status)
            .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
            .where(CampaignRecipient.campaign_id == campaign.id, Message.status.not_in(UNSETTLED))
            .order_by(CampaignRecipient.queued_at.desc())
            .limit(FAILURE_WINDOW)
        )
    )
    return sum(1 for s in statuses if s == "failed"), len(statuses)


async def pause_reason(session: AsyncSession, campaign: Campaign) -> str | None:
    """Why the campaign must pause now, or None."""
    ids = await senders_in_use(session, campaign)
    if ids:
        for sender in await session.scalars(select(Sender).where(Sender.id.in_(ids))):
            if sender.quality_rating in BAD_QUALITY or sender.status != "active":
                state = sender.quality_rating if sender.status == "active" else sender.status
                return f"sender_health: {sender.display_number} is {state}"
    failed, settled = await failure_rate(session, campaign)
    if settled >= FAILURE_MIN_SAMPLE and failed / settled > campaign.failure_threshold:
        return (
            f"failure_rate: {failed} of the last {settled} sends failed "
            f"(threshold {campaign.failure_threshold:.0%})"
        )
    return None
