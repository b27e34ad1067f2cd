"""Campaigns: build, preview, test, launch / pause / resume / cancel, results, warm-up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import (
    ClockDep,
    OutboundDep,
    Principal,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    perm,
)
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.campaigns import (
    CampaignFields,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    EstimateOut,
    PreviewItem,
    RecipientOut,
    ResultsOut,
    TestSendIn,
    TestSendOut,
    TimelineOut,
    WarmupIn,
    WarmupOut,
)
from runtime.campaigns import results
from runtime.campaigns.launcher import start_if_due
from runtime.campaigns.pricing import estimate, price_of
from runtime.campaigns.sending import allocated_senders, queue_message
from runtime.clock import utc_now
from runtime.db.base import as_utc
from runtime.domain import audiences, campaigns, warmup
from runtime.domain.audit import audit
from runtime.domain.consent import policy_of
from runtime.domain.contact_fields import time_zone
from runtime.domain.errors import Conflict
from runtime.domain.lookup import get_owned
from runtime.domain.template_params import TextTooLong
from runtime.domain.templates import render
from runtime.models import Audience, Campaign, CampaignRecipient, Contact, Sender, SenderWarmup

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])
READ = perm("campaigns:read")
WRITE = perm("campaigns:write")
LAUNCH = perm("campaigns:launch")
STATE_PATTERN = "^(" + "|".join(results.STATES) + ")$"


# ---- warm-up (before /{campaign_id}) ----------------------------------------------------------


async def _warmups(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime, senders: list[Sender]
) -> list[WarmupOut]:
    budgets = await warmup.budgets(session, tenant_id, now, [s.id for s in senders])
    used = await warmup.used_today(session, [s.id for s in senders], now.date())
    await session.commit()  # ramps advanced to today
    out = []
    for sender in senders:
        budget = budgets.get(sender.id)
        out.append(
            WarmupOut(
                sender_id=sender.id,
                display_number=sender.display_number,
                quality_rating=sender.quality_rating,
                state=budget.state if budget else None,
                day=now.date(),
                budget=budget.budget if budget else None,
                used=used.get(sender.id, 0),
                remaining=budget.remaining if budget else None,
            )
        )
    return out


@router.get("/warmups", response_model=list[WarmupOut], dependencies=[READ])
async def list_warmups(
    principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> list[WarmupOut]:
    """Every number of the tenant with its ramp and what is left of today's budget (UTC day)."""
    senders = list(
        await session.scalars(
            select(Sender)
            .where(Sender.tenant_id == principal.tenant_id)
            .order_by(Sender.display_number)
        )
    )
    return await _warmups(session, principal.tenant_id, utc_now(clock), senders)


@router.put("/warmups/{sender_id}", response_model=WarmupOut, dependencies=[WRITE])
async def set_warmup(
    sender_id: uuid.UUID,
    body: WarmupIn,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> WarmupOut:
    """Start (or restart) the number's ramp today at ``day_one_budget`` recipients."""
    sender = await get_owned(session, Sender, sender_id, principal.tenant_id)
    now = utc_now(clock)
    current = await session.scalar(select(SenderWarmup).where(SenderWarmup.sender_id == sender.id))
    warmup.start_ramp(session, current, sender, body.day_one_budget, now)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "sender.warmup",
        "sender",
        sender.id,
        {"day_one_budget": body.day_one_budget},
    )
    await session.flush()
    return (await _warmups(session, principal.tenant_id, now, [sender]))[0]


@router.delete("/warmups/{sender_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WRITE])
async def end_warmup(sender_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    """The number has no ramp any more (no warm-up limit)."""
    sender = await get_owned(session, Sender, sender_id, principal.tenant_id)
    current = await session.scalar(select(SenderWarmup).where(SenderWarmup.sender_id == sender.id))
    if current is not None:
        await session.delete(current)
        audit(
            session,
            principal.tenant_id,
            principal.agent_id,
            "sender.warmup_end",
            "sender",
            sender.id,
        )
        await session.commit()


# ---- build ------------------------------------------------------------------------------------


def _out(campaign: Campaign, totals: dict[str, int]) -> CampaignOut:
    cap = None
    if campaign.frequency_cap_count and campaign.frequency_cap_days:
        cap = {"count": campaign.frequency_cap_count, "days": campaign.frequency_cap_days}
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        pause_reason=campaign.pause_reason,
        audience_id=campaign.audience_id,
        template={"name": campaign.template_name, "language": campaign.template_language},
        parameters=campaign.parameters,
        sender={"mode": campaign.sender_mode, "sender_ids": campaign.sender_ids},
        start_at=as_utc(campaign.start_at) if campaign.start_at else None,
        send_window=campaign.send_window,
        rate_per_minute=campaign.rate_per_minute,
        frequency_cap=cap,
        failure_threshold=campaign.failure_threshold,
        expanded_at=campaign.expanded_at,
        completed_at=campaign.completed_at,
        created_at=campaign.created_at,
        totals=totals,
    )


async def _apply(
    session: AsyncSession, campaign: Campaign, body: CampaignFields, given: set[str]
) -> None:
    """Copy the fields the request gave onto the campaign (the start time read in the
    tenant's zone when it has no offset)."""
    if body.audience_id is not None:
        campaign.audience_id = body.audience_id
    if body.template is not None:
        campaign.template_name, campaign.template_language = (
            body.template.name,
            body.template.language,
        )
    if body.parameters is not None:
        campaign.parameters = body.parameters.model_dump(exclude_none=True)
    if body.sender is not None:
        campaign.sender_mode = body.sender.mode
        campaign.sender_ids = [str(s) for s in body.sender.sender_ids]
    if "start_at" in given:
        campaign.start_at = await _in_tenant_zone(session, campaign.tenant_id, body.start_at)
    if "send_window" in given:
        campaign.send_window = body.send_window.model_dump() if body.send_window else None
    if body.rate_per_minute is not None:
        campaign.rate_per_minute = body.rate_per_minute
    if "frequency_cap" in given:
        cap = body.frequency_cap
        campaign.frequency_cap_count = cap.count if cap else None
        campaign.frequency_cap_days = cap.days if cap else None
    if body.failure_threshold is not None:
        campaign.failure_threshold = body.failure_threshold


async def _in_tenant_zone(
    session: AsyncSession, tenant_id: uuid.UUID, moment: datetime | None
) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        zone = time_zone((await policy_of(session, tenant_id)).default_time_zone)
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


@router.get("", response_model=Page[CampaignOut], dependencies=[READ])
async def list_campaigns(
    principal: PrincipalDep,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CampaignOut]:
    """Newest first, each with its recipients per state (live progress)."""
    stmt = select(Campaign).where(Campaign.tenant_id == principal.tenant_id)
    rows, next_cursor = await paginate(session, stmt, Campaign, cursor, limit)
    totals = await results.totals_of(session, [c.id for c in rows])
    return Page(items=[_out(c, totals[c.id]) for c in rows], next_cursor=next_cursor)


@router.post(
    "", response_model=CampaignOut, status_code=status.HTTP_201_CREATED, dependencies=[WRITE]
)
async def create_campaign(
    body: CampaignIn, principal: PrincipalDep, session: SessionDep
) -> CampaignOut:
    """A draft; its audience, template (approved where it will be sent) and parameter mapping
    are checked now."""
    campaign = Campaign(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        name=body.name,
        status="draft",
        created_by=principal.agent_id,
        next_slot_at=0.0,
        parameters={},
    )
    await _apply(session, campaign, body, body.model_fields_set | {"start_at", "send_window"})
    await campaigns.check_setup(session, campaign)
    session.add(campaign)
    audit(
        session, principal.tenant_id, principal.agent_id, "campaign.create", "campaign", campaign.id
    )
    await session.commit()
    return _out(campaign, {})


async def _owned(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    return await get_owned(session, Campaign, campaign_id, principal.tenant_id)


@router.get("/{campaign_id}", response_model=CampaignOut, dependencies=[READ])
async def get_campaign(
    campaign_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> CampaignOut:
    campaign = await _owned(session, principal, campaign_id)
    return _out(campaign, await results.totals(session, campaign.id))


@router.patch("/{campaign_id}", response_model=CampaignOut, dependencies=[WRITE])
async def update_campaign(
    campaign_id: uuid.UUID, body: CampaignPatch, principal: PrincipalDep, session: SessionDep
) -> CampaignOut:
    """Drafts only (409 ``campaign_not_editable`` otherwise)."""
    campaign = await _owned(session, principal, campaign_id)
    campaigns.ensure_editable(campaign)
    if body.name is not None:
        campaign.name = body.name
    await _apply(session, campaign, body, body.model_fields_set)
    await campaigns.check_setup(session, campaign)
    audit(
        session, principal.tenant_id, principal.agent_id, "campaign.update", "campaign", campaign.id
    )
    await session.commit()
    return _out(campaign, {})


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WRITE])
async def delete_campaign(
    campaign_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    """Drafts only; a campaign that ran is cancelled instead (its results stay)."""
    campaign = await _owned(session, principal, campaign_id)
    campaigns.ensure_editable(campaign)
    await session.delete(campaign)
    audit(
        session, principal.tenant_id, principal.agent_id, "campaign.delete", "campaign", campaign_id
    )
    await session.commit()


@router.get("/{campaign_id}/preview", response_model=list[PreviewItem], dependencies=[READ])
async def preview(
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    contact_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[PreviewItem]:
    """The message as each of the audience's first ``limit`` contacts (or one named contact)
    would read it, or why it cannot be rendered for them."""
    campaign = await _owned(session, principal, campaign_id)
    template = await campaigns.campaign_template(session, campaign)
    audience = await get_owned(session, Audience, campaign.audience_id, principal.tenant_id)
    where = audiences.condition(
        audience.definition, principal.tenant_id, session.get_bind().dialect.name, utc_now(clock)
    )
    stmt = select(Contact).where(where).order_by(Contact.id).limit(limit)
    if contact_id is not None:
        stmt = select(Contact).where(
            Contact.id == contact_id, Contact.tenant_id == principal.tenant_id
        )
    items = []
    header = campaigns.fixed_header(campaign.parameters)
    for contact in await session.scalars(stmt):
        item = PreviewItem(
            contact_id=contact.id, name=contact.name, phone=contact.phone, header=header
        )
        try:
            rendered = render(template, campaigns.resolve_parameters(campaign.parameters, contact))
        except campaigns.MissingParameter as missing:
            item.problem = f"missing_parameter:{missing.source}"
        except TextTooLong as too_long:
            item.problem = f"{too_long.code}:{too_long.component}"
        else:
            item.text, item.header_text = rendered.text, rendered.header_text
            item.body_text = rendered.body_text
        items.append(item)
    return items


@router.post(
    "/{campaign_id}/test-send",
    response_model=TestSendOut,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[WRITE],
)
async def test_send(
    campaign_id: uuid.UUID,
    body: TestSendIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    sending: OutboundDep,
) -> TestSendOut:
    """Send the campaign's message to one contact now, by the same path and rules as the
    campaign (not counted among its recipients)."""
    campaign = await _owned(session, principal, campaign_id)
    contact = await get_owned(session, Contact, body.contact_id, principal.tenant_id)
    sender = await _test_sender(session, campaign, contact, body.sender_id, utc_now(clock))
    try:
        message, _ = await queue_message(
            session, settings, campaign, contact, sender, utc_now(clock)
        )
    except campaigns.MissingParameter as missing:
        raise Conflict(
            "missing_parameter",
            f"This contact has no {missing.source} and the mapping gives no fallback.",
            {"field": missing.source},
        ) from None
    await session.commit()
    sending.wake()
    return TestSendOut(
        message_id=message.id, conversation_id=message.conversation_id, status=message.status
    )


async def _test_sender(
    session: AsyncSession,
    campaign: Campaign,
    contact: Contact,
    sender_id: uuid.UUID | None,
    now: datetime,
) -> Sender:
    if sender_id is not None:
        return await get_owned(session, Sender, sender_id, campaign.tenant_id)
    if campaign.sender_mode == "named":
        return await get_owned(
            session, Sender, uuid.UUID(campaign.sender_ids[0]), campaign.tenant_id
        )
    allocated = await allocated_senders(session, campaign.tenant_id, [contact], now)
    if (sender := allocated[contact.id]) is None:
        raise Conflict("no_sender_allocated", "No number is allocated to this contact's owner.")
    return sender


@router.get("/{campaign_id}/estimate", response_model=EstimateOut, dependencies=[READ])
async def get_estimate(
    campaign_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> EstimateOut:
    """Duration and cost before launch: the audience's size now, the rate cap, the numbers'
    throughput and warm-up budgets, Meta's price for the template's category."""
    campaign = await _owned(session, principal, campaign_id)
    template = await campaigns.campaign_template(session, campaign)
    audience = await get_owned(session, Audience, campaign.audience_id, principal.tenant_id)
    now = utc_now(clock)
    count = await audiences.count(session, principal.tenant_id, audience.definition, now)
    numbers = await _numbers(session, campaign)
    budgets = await warmup.budgets(session, principal.tenant_id, now, [s.id for s in numbers])
    daily = sum(b.budget for b in budgets.values()) if budgets else None
    throughput = sum(s.throughput_mps for s in numbers) or 80
    found = estimate(
        count, campaign.rate_per_minute, throughput, daily, price_of(template.category)
    )
    return EstimateOut(
        recipients=found.recipients,
        duration_seconds=found.duration_seconds,
        limited_by=found.limited_by,
        category=found.price.category,
        cost=found.cost,
        currency=found.price.currency,
        price_per_message=found.price.amount,
    )


async def _numbers(session: AsyncSession, campaign: Campaign) -> list[Sender]:
    """The named numbers, or every active number of the tenant for ``allocated``."""
    stmt = select(Sender).where(Sender.tenant_id == campaign.tenant_id, Sender.status == "active")
    if campaign.sender_mode == "named":
        stmt = stmt.where(Sender.id.in_([uuid.UUID(s) for s in campaign.sender_ids]))
    return list(await session.scalars(stmt))


# ---- lifecycle --------------------------------------------------------------------------------


async def _move(
    request: Request,
    campaign_id: uuid.UUID,
    action: Literal["launch", "pause", "resume", "cancel"],
    principal: PrincipalDep,
    session: AsyncSession,
    now: datetime,
) -> CampaignOut:
    campaign = await session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.tenant_id == principal.tenant_id)
        .with_for_update()
    )
    if campaign is None:
        await get_owned(session, Campaign, campaign_id, principal.tenant_id)  # 404
        raise AssertionError
    if action == "launch":
        await campaigns.check_setup(session, campaign)
    campaigns.transition(campaign, action)
    if action == "cancel":
        await campaigns.skip_pending(session, campaign)
    else:
        await start_if_due(session, campaign, now)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        f"campaign.{action}",
        "campaign",
        campaign.id,
    )
    await session.commit()
    request.app.state.campaigns.wake()
    return _out(campaign, await results.totals(session, campaign.id))


@router.post("/{campaign_id}/launch", response_model=CampaignOut, dependencies=[LAUNCH])
async def launch(
    request: Request,
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> CampaignOut:
    """Draft → scheduled; → running at once when it has no start time or it has passed (the
    audience is expanded into recipients in this request)."""
    return await _move(request, campaign_id, "launch", principal, session, utc_now(clock))


@router.post("/{campaign_id}/pause", response_model=CampaignOut, dependencies=[LAUNCH])
async def pause(
    request: Request,
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> CampaignOut:
    """Stop handing recipients to the send queue (those already handed on still go)."""
    return await _move(request, campaign_id, "pause", principal, session, utc_now(clock))


@router.post("/{campaign_id}/resume", response_model=CampaignOut, dependencies=[LAUNCH])
async def resume(
    request: Request,
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> CampaignOut:
    return await _move(request, campaign_id, "resume", principal, session, utc_now(clock))


@router.post("/{campaign_id}/cancel", response_model=CampaignOut, dependencies=[LAUNCH])
async def cancel(
    request: Request,
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> CampaignOut:
    """For good: recipients not yet handed on are skipped (``campaign_cancelled``)."""
    return await _move(request, campaign_id, "cancel", principal, session, utc_now(clock))


# ---- results ----------------------------------------------------------------------------------


@router.get("/{campaign_id}/results", response_model=ResultsOut, dependencies=[READ])
async def get_results(
    campaign_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> ResultsOut:
    """Recipients per state, rates over the messages handed on, actual cost from statuses."""
    campaign = await _owned(session, principal, campaign_id)
    totals = await results.totals(session, campaign.id)
    return ResultsOut(
        totals=totals, rates=results.rates(totals), cost=await results.cost(session, campaign.id)
    )


@router.get("/{campaign_id}/timeline", response_model=TimelineOut, dependencies=[READ])
async def get_timeline(
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    bucket_seconds: Annotated[int, Query(ge=60, le=86_400, multiple_of=60)] = 60,
) -> TimelineOut:
    """Recipients queued and messages sent / delivered / read / replied / failed per time
    bucket (default a minute), for the results page's chart."""
    campaign = await _owned(session, principal, campaign_id)
    return TimelineOut.model_validate(await results.timeline(session, campaign.id, bucket_seconds))


@router.get("/{campaign_id}/recipients", response_model=Page[RecipientOut], dependencies=[READ])
async def list_recipients(
    campaign_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    state: Annotated[str | None, Query(pattern=STATE_PATTERN)] = None,
    after: Annotated[uuid.UUID | None, Query(description="The last contact_id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[RecipientOut]:
    """By contact id; follow ``next_cursor`` (a contact id) with ``after``."""
    campaign = await _owned(session, principal, campaign_id)
    stmt = results.recipients_query(campaign.id, state)
    if after is not None:
        stmt = stmt.where(CampaignRecipient.contact_id > after)
    rows = list((await session.execute(stmt.limit(limit + 1))).mappings())
    more = len(rows) > limit
    items = [RecipientOut.model_validate(dict(r)) for r in rows[:limit]]
    return Page(items=items, next_cursor=str(items[-1].contact_id) if more else None)


@router.get("/{campaign_id}/results.csv", dependencies=[READ])
async def export_results(
    campaign_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Every recipient as CSV; cells that a spreadsheet would run as a formula (starting
    with = + - @ tab CR) are prefixed with an apostrophe. Read in chunks, answered whole
    (the session closes when the handler returns)."""
    campaign = await _owned(session, principal, campaign_id)
    name = f"campaign-{campaign.id}.csv"
    body = "".join([chunk async for chunk in results.csv_lines(session, campaign.id)])
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
