"""Sender health alerts: one row per turn for the worse (or tier change), a live event for
the admins (``alerts:read``), and a signed copy for the tenant's webhook if it set one.

Deduplication is by transition: callers raise an alert only when the sender's stored value
changes (runtime/domain/sender_health.py locks the sender row first), so the same state
told twice (a webhook, then a poll) makes one alert."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.events import record_event
from runtime.domain.visibility import alert_audience
from runtime.models import AlertWebhook, Sender, SenderAlert

SIGNATURE_HEADER = "X-Scrm-Signature"


async def raise_alert(
    session: AsyncSession,
    sender: Sender,
    kind: str,
    state: str,
    previous: str | None,
    source: str,
    message: str,
    now: datetime,
) -> SenderAlert:
    """Store the alert, tell the admins live, and queue it for the tenant's webhook."""
    webhook = await session.get(AlertWebhook, sender.tenant_id)
    alert = SenderAlert(
        id=uuid.uuid4(),
        tenant_id=sender.tenant_id,
        sender_id=sender.id,
        kind=kind,
        state=state[:40],
        previous=previous[:40] if previous else None,
        source=source,
        message=message[:500],
        created_at=now,
        delivery="pending" if webhook is not None else "none",
        delivery_attempts=0,
        deliver_after=now if webhook is not None else None,
    )
    session.add(alert)
    await record_event(
        session, sender.tenant_id, "sender.alert", alert_json(alert, sender), alert_audience()
    )
    return alert


def alert_json(alert: SenderAlert, sender: Sender) -> dict[str, Any]:
    """An alert as the API, the live event and the webhook show it."""
    return {
        "id": str(alert.id),
        "sender_id": str(alert.sender_id),
        "phone_number_id": sender.phone_number_id,
        "display_number": sender.display_number,
        "kind": alert.kind,
        "state": alert.state,
        "previous": alert.previous,
        "source": alert.source,
        "message": alert.message,
        "created_at": alert.created_at.isoformat(),
        "read_at": alert.read_at.isoformat() if alert.read_at else None,
    }


async def mark_read(
    session: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID] | None, now: datetime
) -> int:
    """Mark the tenant's alerts ``ids`` (all unread ones if None) read; how many changed."""
    stmt = update(SenderAlert).where(
        SenderAlert.tenant_id == tenant_id, SenderAlert.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(SenderAlert.id.in_(ids))
    result = await session.execute(stmt.values(read_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def signature(secret: str, body: bytes) -> str:
    """The value of :data:`SIGNATURE_HEADER`: ``sha256=`` + HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
