"""Campaign rules: the lifecycle, template parameters from contact fields, the send window in
the contact's own time, the per-contact frequency cap across campaigns (docs/campaigns.md).
The machinery that expands audiences and feeds the send queue is runtime/campaigns/."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Conflict, NotFound
from runtime.domain.lookup import ensure_owned_ids
from runtime.domain.templates import approved_template, render
from runtime.models import Audience, Campaign, CampaignRecipient, Contact, Sender, Template

# action → the statuses it may start from, and the status it leads to
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "launch": (frozenset({"draft"}), "scheduled"),
    "pause": (frozenset({"scheduled", "running"}), "paused"),
    "resume": (frozenset({"paused"}), "scheduled"),
    "cancel": (frozenset({"draft", "scheduled", "running", "paused"}), "cancelled"),
}
CONTACT_FIELDS = ("name", "phone", "email")


def transition(campaign: Campaign, action: str) -> None:
    """Move ``campaign`` by ``action`` or 409 ``campaign_not_<action>able``; launch and resume
    lead to ``scheduled`` (the feeder starts it when its time has come)."""
    allowed, target = TRANSITIONS[action]
    if campaign.status not in allowed:
        raise Conflict(
            "campaign_invalid_transition",
            f"A {campaign.status} campaign cannot be {action}ed"
            f" (only from {', '.join(sorted(allowed))}).",
            {"status": campaign.status, "action": action},
        )
    campaign.status = target
    campaign.pause_reason = None


def ensure_editable(campaign: Campaign) -> None:
    if campaign.status != "draft":
        raise Conflict(
            "campaign_not_editable",
            f"Only a draft can be edited; this campaign is {campaign.status}.",
            {"status": campaign.status},
        )


# ---- template parameters ----------------------------------------------------------------------


class MissingParameter(Exception):
    """A contact lacks a field a parameter needs and the mapping gives no fallback."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


def check_parameters(mapping: dict[str, Any], template: Template) -> None:
    """422 unless ``mapping`` fills exactly the template's parameters (header text, media or
    place, body, buttons), each from a contact field (``name``/``phone``/``email``/
    ``attributes.<key>``, with an optional fallback) or a fixed ``text``: the inbox's own
    check (runtime/domain/template_params.py), run on a sample recipient."""
    render(template, _resolve(mapping, lambda parameter: parameter.get("text") or "sample"))


def resolve_parameters(mapping: dict[str, Any], contact: Contact) -> dict[str, list[Any]]:
    """Every parameter for ``contact`` (MissingParameter when one is empty); a media or
    location header is the same for everyone."""
    return _resolve(mapping, lambda parameter: _value(parameter, contact))


def fixed_header(mapping: dict[str, Any]) -> dict[str, Any] | None:
    """The header that is the same for every recipient: the media of an IMAGE/VIDEO/DOCUMENT
    header (``{type, link | id, filename?}``) or the place of a LOCATION header (``{type:
    "location", latitude, longitude, name?, address?}``); None for a text header or none."""
    header = mapping.get("header") or []
    return dict(header[0]) if header and "type" in header[0] else None


def _resolve(mapping: dict[str, Any], value: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    resolved: dict[str, Any] = {
        kind: [p if "type" in p else value(p) for p in mapping.get(kind, [])]
        for kind in ("header", "body")
    }
    resolved["buttons"] = [
        {"index": b["index"], "value": value(b)} for b in mapping.get("buttons", [])
    ]
    return resolved


def _value(parameter: dict[str, Any], contact: Contact) -> str:
    if "text" in parameter:
        return str(parameter["text"])
    source = str(parameter["field"])
    if source.startswith("attributes."):
        raw = (contact.attributes or {}).get(source.removeprefix("attributes."))
    else:
        raw = getattr(contact, source)
    value = "" if raw is None else str(raw).strip()
    if value:
        return value
    fallback = str(parameter.get("fallback") or "").strip()
    if not fallback:
        raise MissingParameter(source)
    return fallback


# ---- send window ------------------------------------------------------------------------------


def next_opening(now: datetime, zone: ZoneInfo, window: dict[str, Any] | None) -> datetime | None:
    """When the send window next opens for a contact in ``zone``; None if it is open now.
    ``window``: ``{"start": "09:00", "end": "20:00", "weekdays": [1, …, 7]}`` (ISO weekdays,
    start before end, contact-local wall-clock)."""
    if window is None:
        return None
    start, end = _clock(window["start"]), _clock(window["end"])
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.isoweekday() not in window["weekdays"]:
            continue
        opens = datetime.combine(day, start, tzinfo=zone)
        closes = datetime.combine(day, end, tzinfo=zone)
        if offset == 0 and opens <= local < closes:
            return None
        if opens > local:
            return opens.astimezone(UTC)
    raise AssertionError("a window with a weekday opens within 8 days")  # validated on input


def _clock(value: str) -> Any:
    return datetime.strptime(value, "%H:%M").time()


# ---- frequency cap across campaigns -----------------------------------------------------------


async def over_frequency_cap(
    session: AsyncSession, campaign: Campaign, contact_ids: list[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Those of ``contact_ids`` that already received ``frequency_cap_count`` campaign
    messages (any campaign) in the last ``frequency_cap_days`` days: one grouped query."""
    count, days = campaign.frequency_cap_count, campaign.frequency_cap_days
    if not count or not days or not contact_ids:
        return set()
    rows = await session.execute(
        select(CampaignRecipient.contact_id)
        .where(
            CampaignRecipient.contact_id.in_(contact_ids),
            CampaignRecipient.tenant_id == campaign.tenant_id,
            CampaignRecipient.state == "queued",
            CampaignRecipient.queued_at >= now - timedelta(days=days),
        )
        .group_by(CampaignRecipient.contact_id)
        .having(func.count() >= count)
    )
    return set(rows.scalars())


# ---- setup ------------------------------------------------------------------------------------


async def campaign_template(session: AsyncSession, campaign: Campaign) -> Template:
    """The campaign's template as the send path will find it: APPROVED on every named number's
    WhatsApp account (any of the tenant's accounts for ``allocated``); 404/422 otherwise."""
    if campaign.sender_mode == "named":
        ids = [uuid.UUID(s) for s in campaign.sender_ids]
        await ensure_owned_ids(session, Sender, ids, campaign.tenant_id, "sender.sender_ids")
        senders = list(await session.scalars(select(Sender).where(Sender.id.in_(ids))))
        templates = [
            await approved_template(
                session, sender, campaign.template_name, campaign.template_language
            )
            for sender in senders
        ]
        return templates[0]
    template = await session.scalar(
        select(Template).where(
            Template.tenant_id == campaign.tenant_id,
            Template.name == campaign.template_name,
            Template.language == campaign.template_language,
            Template.status == "APPROVED",
        )
    )
    if template is None:
        raise NotFound(f"Approved template {campaign.template_name!r}")
    return template


async def check_setup(session: AsyncSession, campaign: Campaign) -> Template:
    """422/404 unless the campaign could run: its audience is the tenant's, its template is
    approved where it will be sent, and the parameter mapping fills it exactly."""
    await ensure_owned_ids(
        session, Audience, [campaign.audience_id], campaign.tenant_id, "audience_id"
    )
    template = await campaign_template(session, campaign)
    check_parameters(campaign.parameters, template)
    return template


async def skip_pending(session: AsyncSession, campaign: Campaign) -> None:
    """A cancelled campaign's recipients not yet handed on: ``skipped`` (one UPDATE)."""
    await session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.state == "pending")
        .values(state="skipped", skip_rule="campaign_cancelled")
    )
