"""May the business send this template to this contact now? One entry point,
:func:`check_outreach`, that every template send calls (agents, the API, campaigns, the send
queue), so nothing bypasses the tenant's rules. Checked in this order:

1. do-not-contact list (every template category) → refused ``contact_do_not_contact``
2. only MARKETING templates (and templates of unknown category) go on:
   opted out → refused ``contact_opted_out``
3. marketing cap: N marketing templates per contact per D days → refused
   ``marketing_cooldown`` (the answer tells when the next one may go, and Meta's 131049)
4. quiet hours in the contact's time zone → deferred ``quiet_hours`` until they end

Free-form replies inside the customer's open 24-hour window are not outreach: not checked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc
from runtime.domain.consent import OPTED_OUT, policy_of
from runtime.domain.contact_fields import time_zone
from runtime.domain.errors import Conflict, NotFound
from runtime.models import Contact, DoNotContact, Message, OutreachPolicy, OutreachSend

MARKETING = "MARKETING"
NOT_MARKETING = {"UTILITY", "AUTHENTICATION"}
# Meta's own cap on marketing templates a user receives from all businesses.
META_MARKETING_LIMIT = 131049


@dataclass(frozen=True)
class Eligibility:
    """``allowed``; ``refused`` by ``rule``; ``deferred`` by ``rule`` until ``until``; or
    ``busy``: not decided, another transaction holds the contact (only when asked to skip
    busy contacts rather than wait for them)."""

    outcome: Literal["allowed", "refused", "deferred", "busy"]
    rule: str | None = None
    message: str = ""
    until: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    def deferral(self) -> datetime | None:
        """For the send path: a refusal is a 409 naming its rule; a deferral is the moment
        the send may go (the queue holds it until then); ``None``: right away."""
        if self.outcome in ("refused", "busy"):
            raise Conflict(str(self.rule), self.message, {"rule": self.rule, **self.details})
        return self.until if self.outcome == "deferred" else None


ALLOWED = Eligibility("allowed")
BUSY = Eligibility(
    "busy",
    "contact_busy",
    "Another transaction is writing this contact right now (an inbound message, another "
    "send); try again in a moment.",
)


def is_marketing(category: str) -> bool:
    """MARKETING, or a category we do not know (the cautious reading)."""
    return category.upper() not in NOT_MARKETING


def contact_zone(contact: Contact, policy: OutreachPolicy) -> ZoneInfo:
    """The contact's time zone if known, else the tenant's default (else UTC)."""
    return time_zone(contact.time_zone) or time_zone(policy.default_time_zone) or ZoneInfo("UTC")


def parse_clock(value: str) -> time:
    """``"HH:MM"`` → time (ValueError otherwise)."""
    hours, minutes = value.split(":")
    if len(hours) != 2 or len(minutes) != 2:
        raise ValueError(value)
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, tz: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet window [start, end) (local wall-clock, may span midnight) ends, if
    ``now`` falls in it; else None."""
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= clock < end, local.date()
    else:  # e.g. 21:00-08:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1 if clock >= start else 0)
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)


async def on_do_not_contact(session: AsyncSession, tenant_id: uuid.UUID, phone: str) -> bool:
    return phone in await _on_do_not_contact(session, tenant_id, [phone])


async def _on_do_not_contact(
    session: AsyncSession, tenant_id: uuid.UUID, phones: list[str]
) -> set[str]:
    """Those of ``phones`` on the tenant's do-not-contact list."""
    if not phones:
        return set()
    found = await session.scalars(
        select(DoNotContact.phone).where(
            DoNotContact.tenant_id == tenant_id, DoNotContact.phone.in_(phones)
        )
    )
    return set(found)


async def _recent_marketing(
    session: AsyncSession, contact_ids: list[uuid.UUID], since: datetime
) -> dict[uuid.UUID, list[datetime]]:
    """Send times of the contacts' marketing templates after ``since``, newest first."""
    rows = await session.execute(
        select(OutreachSend.contact_id, OutreachSend.sent_at)
        .where(
            OutreachSend.contact_id.in_(contact_ids),
            OutreachSend.category == MARKETING,
            OutreachSend.sent_at > since,
        )
        .order_by(OutreachSend.sent_at.desc())
    )
    recent: dict[uuid.UUID, list[datetime]] = {}
    for contact_id, moment in rows:
        recent.setdefault(contact_id, []).append(as_utc(moment))
    return recent


async def _lock_contacts(
    session: AsyncSession, contact_ids: list[uuid.UUID], skip_busy: bool
) -> set[uuid.UUID]:
    """Two sends to one contact at once must not both pass the cap: the contact rows are
    locked (in id order) until the send's transaction ends (PostgreSQL; SQLite serialises
    writers). ``FOR NO KEY UPDATE``: sends exclude each other, but rows that merely refer to
    the contact (a conversation an inbound round inserts) are not held up. With
    ``skip_busy`` a contact another transaction holds is left out instead of waited for.
    Returns the contacts locked."""
    locked = await session.scalars(
        select(Contact.id)
        .where(Contact.id.in_(contact_ids))
        .order_by(Contact.id)
        .with_for_update(key_share=True, skip_locked=skip_busy)
    )
    return set(locked)


def _cooldown(recent: list[datetime], policy: OutreachPolicy) -> Eligibility | None:
    """The marketing cap, given the contact's marketing sends in the cap's window."""
    count, days = policy.marketing_limit_count, policy.marketing_limit_days
    if not count or not days or len(recent) < count:
        return None
    next_at = min(recent[:count]) + timedelta(days=days)
    return Eligibility(
        "refused",
        "marketing_cooldown",
        f"This contact already received {count} marketing template(s) in the last {days} "
        f"day(s), the tenant's limit; the next may go at {next_at.isoformat()}. Meta also "
        f"caps the marketing templates a user receives from all businesses (error "
        f"{META_MARKETING_LIMIT}): sending more would likely fail there.",
        details={
            "limit": count,
            "window_days": days,
            "next_allowed_at": next_at.isoformat(),
            "meta_error_code": META_MARKETING_LIMIT,
        },
    )


def _quiet_hours(contact: Contact, policy: OutreachPolicy, now: datetime) -> Eligibility | None:
    if policy.quiet_start is None or policy.quiet_end is None:
        return None
    tz = contact_zone(contact, policy)
    start, end = parse_clock(policy.quiet_start), parse_clock(policy.quiet_end)
    until = quiet_until(now, tz, start, end)
    if until is None:
        return None
    return Eligibility(
        "deferred",
        "quiet_hours",
        f"Quiet hours {policy.quiet_start}-{policy.quiet_end} ({tz.key}) for this contact: "
        f"marketing templates wait until {until.astimezone(tz).isoformat()}.",
        until,
        {"time_zone": tz.key},
    )


def _before_policy(contact: Contact, category: str, do_not_contact: bool) -> Eligibility | None:
    """The rules that need no tenant policy: do-not-contact, then (marketing) opted out;
    ALLOWED for a template that is not marketing; None: the policy decides."""
    if do_not_contact:
        return Eligibility(
            "refused",
            "contact_do_not_contact",
            f"{contact.phone} is on the do-not-contact list: no template may be sent to it.",
        )
    if not is_marketing(category):
        return ALLOWED
    if contact.consent_state == OPTED_OUT:
        return Eligibility(
            "refused",
            "contact_opted_out",
            "This contact opted out of marketing messages; only utility and authentication "
            "templates may be sent.",
        )
    return None


async def check_outreach(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    contact: Contact,
    template_category: str,
    now: datetime,
) -> Eligibility:
    """Whether a template of ``template_category`` may go to ``contact`` at ``now``."""
    verdicts = await check_outreach_many(session, tenant_id, [contact], template_category, now)
    return verdicts[contact.id]


async def check_outreach_many(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    contacts: list[Contact],
    template_category: str,
    now: datetime,
    *,
    skip_busy: bool = False,
) -> dict[uuid.UUID, Eligibility]:
    """:func:`check_outreach` for many contacts at once, by contact id: the same rules in
    the same order, in at most four statements however many contacts (the do-not-contact
    phones, the policy, the contacts' row locks, their recent marketing sends). With
    ``skip_busy``, a contact whose row another transaction holds is answered :data:`BUSY`
    at once (a batch never waits on a contact lock: see runtime/outbound/batch.py)."""
    if any(contact.tenant_id != tenant_id for contact in contacts):
        raise NotFound("Contact")
    listed = await _on_do_not_contact(session, tenant_id, [c.phone for c in contacts if c.phone])
    verdicts: dict[uuid.UUID, Eligibility | None] = {
        c.id: _before_policy(c, template_category, c.phone in listed) for c in contacts
    }
    undecided = [c for c in contacts if verdicts[c.id] is None]
    if not undecided:
        return {key: verdict or ALLOWED for key, verdict in verdicts.items()}
    policy = await policy_of(session, tenant_id)
    recent: dict[uuid.UUID, list[datetime]] = {}
    if policy.marketing_limit_count and policy.marketing_limit_days:
        ids = [c.id for c in undecided]
        locked = await _lock_contacts(session, ids, skip_busy)
        if skip_busy:
            verdicts.update({c.id: BUSY for c in undecided if c.id not in locked})
            undecided = [c for c in undecided if c.id in locked]
        recent = await _recent_marketing(
            session, ids, now - timedelta(days=policy.marketing_limit_days)
        )
    for contact in undecided:
        verdicts[contact.id] = _cooldown(recent.get(contact.id, []), policy) or _quiet_hours(
            contact, policy, now
        )
    return {key: verdict or ALLOWED for key, verdict in verdicts.items()}


def record_outreach(
    session: AsyncSession, contact: Contact, message: Message, category: str
) -> None:
    """Count a template stored for sending (what the marketing cap reads)."""
    session.add(OutreachSend(**outreach_row(contact, message.id, category, message.created_at)))


def outreach_row(
    contact: Contact, message_id: uuid.UUID, category: str, sent_at: datetime
) -> dict[str, Any]:
    """The ``outreach_sends`` row counting a template to ``contact`` (also inserted
    set-wise by runtime/outbound/batch.py)."""
    return {
        "id": uuid.uuid4(),
        "tenant_id": contact.tenant_id,
        "contact_id": contact.id,
        "message_id": message_id,
        "category": MARKETING if is_marketing(category) else category.upper(),
        "sent_at": sent_at,
    }
