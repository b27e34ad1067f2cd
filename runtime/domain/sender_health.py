"""Sender health: what Meta tells about a number — a refused send, a webhook, a poll of the
Graph phone-number fields — becomes the sender's state, alerts, and the answer to "may this
number start new outreach?" (docs/sender-health.md).

Two kinds of state:

- ``health`` (ours): ``ok`` until a send is refused with 190 (``token_invalid``), 368,
  131031 or 131048 (``restricted``), 131042 (``payment_issue``), or an ``account_update``
  restricts the account. It stays until an admin clears it (``PATCH /api/senders/{id}``
  ``{"health": "ok"}``; a new access token clears ``token_invalid``) or, for
  ``token_invalid``, a poll succeeds with the stored token.
- Meta's fields (``quality_rating``, ``messaging_limit_tier``, ``throughput_level``,
  ``number_status``, ``name_status``), from webhooks and polls, overwritten by each.

Every change takes the sender row's lock first and alerts only on a transition, so one
state told twice (a webhook and a poll) makes one alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.events import record_event
from runtime.domain.sender_alerts import raise_alert
from runtime.domain.visibility import sender_audience
from runtime.models import Sender
from runtime.whatsapp.models import PhoneNumberInfo

# Meta's refusal codes that say something about the number, not the message.
HEALTH_BY_CODE = {
    190: "token_invalid",
    368: "restricted",
    131031: "restricted",
    131042: "payment_issue",
    131048: "restricted",  # spam rate limit: the number is restricted (brief, section 8)
}
ALERT_QUALITY = frozenset({"YELLOW", "RED"})
KNOWN_QUALITY = frozenset({"GREEN", "YELLOW", "RED"})  # anything else Meta says: UNKNOWN
# Meta's phone-number ``status`` values that stop new outreach, and the alert they raise.
NUMBER_STATUS_ALERT = {"FLAGGED": "flagged", "RESTRICTED": "restricted", "BANNED": "restricted"}
THROUGHPUT_BY_LEVEL = {"STANDARD": 80, "HIGH": 1000}


@dataclass(frozen=True)
class Observation:
    """What Meta said about a number; None: not told this time."""

    quality_rating: str | None = None
    messaging_limit_tier: str | None = None
    throughput_level: str | None = None
    number_status: str | None = None
    name_status: str | None = None

    @classmethod
    def of(cls, info: PhoneNumberInfo) -> Observation:
        """What a read of the Graph phone-number fields said."""
        return cls(
            quality_rating=info.quality_rating,
            messaging_limit_tier=info.messaging_limit_tier,
            throughput_level=info.throughput_level,
            number_status=info.status,
            name_status=info.name_status,
        )


def take_baseline(sender: Sender, seen: Observation, given: set[str], now: datetime) -> None:
    """A new sender starts from what Meta said when it was proven (no alerts: nothing
    changed); quality and tier the admin gave (``given``) are kept."""
    if "quality_rating" not in given:
        sender.quality_rating = _quality(seen.quality_rating) or sender.quality_rating
    if "messaging_limit_tier" not in given:
        sender.messaging_limit_tier = seen.messaging_limit_tier or sender.messaging_limit_tier
    sender.throughput_level = seen.throughput_level
    sender.number_status, sender.name_status = seen.number_status, seen.name_status
    sender.health_polled_at = now


def outreach_blocker(sender: Sender) -> str | None:
    """Why ``sender`` may not start new outreach (a template outside an open window), or
    None if it may: out of service, unhealthy, flagged/restricted by Meta, or RED."""
    if sender.status != "active":
        return sender.status
    if sender.health != "ok":
        return sender.health
    if sender.number_status in NUMBER_STATUS_ALERT:
        return sender.number_status
    if sender.quality_rating == "RED":
        return "RED"
    return None


def session_blocker(sender: Sender) -> str | None:
    """Why ``sender`` may not send at all (even inside an open window), or None: out of
    service, or its token was refused (every call would be refused again)."""
    if sender.status != "active":
        return sender.status
    if sender.health == "token_invalid":
        return sender.health
    return None


async def _locked(session: AsyncSession, sender: Sender) -> None:
    """Re-read the sender under its row lock: concurrent tellers serialise, so a transition
    is seen (and alerted) once. Flushed first: a refresh drops unflushed changes."""
    await session.flush()
    await session.refresh(sender, with_for_update=True)


async def emit_sender(session: AsyncSession, sender: Sender, event: str | None = None) -> None:
    """Tell ``senders:read`` holders the sender's quality, tier and health now."""
    await record_event(
        session,
        sender.tenant_id,
        "sender.updated",
        {
            "sender_id": str(sender.id),
            "quality_rating": sender.quality_rating,
            "messaging_limit_tier": sender.messaging_limit_tier,
            "number_status": sender.number_status,
            "health": sender.health,
            "event": event,
        },
        sender_audience(),
    )


async def set_health(
    session: AsyncSession, sender: Sender, health: str, reason: str, source: str, now: datetime
) -> bool:
    """Set the sender's health (alerting on a turn to anything but ``ok``); whether it
    changed. The caller holds the sender's lock (:func:`_locked`)."""
    if sender.health == health:
        return False
    previous = sender.health
    sender.health, sender.health_reason, sender.health_changed_at = health, reason[:500], now
    if health != "ok":
        message = f"Sender {sender.display_number} is {health}: {reason}"
        await raise_alert(session, sender, health, health, previous, source, message, now)
    return True


async def after_refusal(
    session: AsyncSession, sender: Sender, code: int | None, text: str, now: datetime
) -> bool:
    """A send from ``sender`` was refused with Meta's ``code``: mark its health and ask for
    a poll of its Graph fields now. Whether the code concerned the number."""
    health = HEALTH_BY_CODE.get(code or 0)
    if health is None:
        return False
    await _locked(session, sender)
    if await set_health(session, sender, health, f"({code}) {text}", "send", now):
        await emit_sender(session, sender, f"error_{code}")
    sender.poll_requested_at = now
    return True


async def observe(
    session: AsyncSession, sender: Sender, seen: Observation, source: str, now: datetime
) -> bool:
    """Apply what Meta said (``source``: webhook | poll); alert on a turn to YELLOW/RED,
    FLAGGED/RESTRICTED/BANNED, and on every tier change. Whether anything changed (the
    caller tells the admins with :func:`emit_sender`)."""
    await _locked(session, sender)
    changed = False
    for field, value, alert_kind in (
        ("quality_rating", _quality(seen.quality_rating), _quality_alert),
        ("messaging_limit_tier", seen.messaging_limit_tier, _tier_alert),
        ("number_status", seen.number_status, NUMBER_STATUS_ALERT.get),
    ):
        previous = getattr(sender, field)
        if value is None or value == previous:
            continue
        setattr(sender, field, value)
        changed = True
        if (kind := alert_kind(value)) is not None:
            message = f"{_LABELS[kind]} of {sender.display_number}: {value} (was {previous})."
            await raise_alert(session, sender, kind, value, previous, source, message, now)
    changed |= _apply_throughput(sender, seen.throughput_level)
    sender.name_status = seen.name_status or sender.name_status
    return changed


_LABELS = {
    "quality": "Quality rating",
    "tier": "Messaging limit",
    "flagged": "Meta's number status",
    "restricted": "Meta's number status",
}


def _quality(value: str | None) -> str | None:
    return None if value is None else value if value in KNOWN_QUALITY else "UNKNOWN"


def _quality_alert(quality: str) -> str | None:
    return "quality" if quality in ALERT_QUALITY else None


def _tier_alert(_: str) -> str:
    return "tier"


def _apply_throughput(sender: Sender, level: str | None) -> bool:
    """A change of Meta's throughput level sets the number's rate (80 or 1,000 msg/s); the
    first level seen is only noted, so a rate an admin set (e.g. 20 for coexistence)
    stays until Meta changes the level."""
    if level is None or level == sender.throughput_level:
        return False
    first = sender.throughput_level is None
    sender.throughput_level = level
    if not first and level in THROUGHPUT_BY_LEVEL:
        sender.throughput_mps = THROUGHPUT_BY_LEVEL[level]
    return not first


async def restricted_by_account(
    session: AsyncSession, sender: Sender, event: str, detail: str, now: datetime
) -> None:
    """Meta's ``account_update`` restricted or disabled the account: no new outreach."""
    await _locked(session, sender)
    await set_health(session, sender, "restricted", f"{event}: {detail}", "webhook", now)
    sender.poll_requested_at = now


async def after_poll(
    session: AsyncSession, sender: Sender, seen: Observation, now: datetime
) -> None:
    """A poll of the Graph fields succeeded with the stored token: apply them, and a
    ``token_invalid`` mark is over."""
    changed = await observe(session, sender, seen, "poll", now)
    if sender.health == "token_invalid":
        changed |= await set_health(session, sender, "ok", "The token works again.", "poll", now)
    if changed:
        await emit_sender(session, sender, "poll")


async def after_poll_refused(
    session: AsyncSession, sender: Sender, code: int | None, text: str, now: datetime
) -> None:
    """A poll was refused: a code about the number marks it as a refused send would."""
    await _locked(session, sender)
    if (health := HEALTH_BY_CODE.get(code or 0)) is not None and await set_health(
        session, sender, health, f"({code}) {text}", "poll", now
    ):
        await emit_sender(session, sender, f"error_{code}")
