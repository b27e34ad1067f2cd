"""Starting a campaign: the audience becomes one ``campaign_recipients`` row per contact in a
single ``INSERT … SELECT`` (the database evaluates the audience; no Python loop per contact).

Named senders are dealt round-robin by ``row_number()`` over the contacts; with
``allocated`` the feeder picks each contact's number when it queues the message. Contacts
without a phone number are recorded ``skipped`` (``contact_has_no_phone``) at once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, case, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc
from runtime.domain import audiences
from runtime.models import Audience, Campaign, CampaignRecipient, Contact


async def start_if_due(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    """A ``scheduled`` campaign whose start time has come is expanded (first time) and turns
    ``running``. The caller holds the campaign row and commits."""
    if campaign.status != "scheduled" or (campaign.start_at and as_utc(campaign.start_at) > now):
        return False
    if campaign.expanded_at is None:
        await expand(session, campaign, now)
    campaign.status = "running"
    campaign.next_slot_at = max(campaign.next_slot_at, now.timestamp())
    return True


async def expand(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    """Insert the audience's contacts as recipients; returns how many."""
    audience = await session.get(Audience, campaign.audience_id)
    assert audience is not None and audience.tenant_id == campaign.tenant_id
    dialect = session.get_bind().dialect.name
    where = audiences.condition(audience.definition, campaign.tenant_id, dialect, now)
    ranked = (
        select(
            Contact.id.label("contact_id"),
            Contact.phone.label("phone"),
            func.row_number().over(order_by=Contact.id).label("position"),
        )
        .where(where)
        .subquery()
    )
    no_phone = ranked.c.phone.is_(None)
    rows = select(
        literal(campaign.id, Uuid).label("campaign_id"),
        ranked.c.contact_id,
        literal(campaign.tenant_id, Uuid).label("tenant_id"),
        _dealt_sender(campaign, ranked.c.position).label("sender_id"),
        case((no_phone, "skipped"), else_="pending").label("state"),
        case((no_phone, "contact_has_no_phone"), else_=None).label("skip_rule"),
        literal(now).label("not_before"),
    )
    columns = ["campaign_id", "contact_id", "tenant_id", "sender_id", "state"]
    columns += ["skip_rule", "not_before"]
    result = await session.execute(insert(CampaignRecipient).from_select(columns, rows))
    campaign.expanded_at = now
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _dealt_sender(campaign: Campaign, position: Any) -> Any:
    """Named senders, one after the other by the contact's position; NULL for allocated."""
    ids = [uuid.UUID(s) for s in campaign.sender_ids] if campaign.sender_mode == "named" else []
    if not ids:
        return literal(None, Uuid)
    if len(ids) == 1:
        return literal(ids[0], Uuid)
    slot = position % len(ids)
    return case({i: literal(s, Uuid) for i, s in enumerate(ids)}, value=slot)
