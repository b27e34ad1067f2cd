"""Sender health alerts for admins (``alerts:read``) and the tenant's signed alert webhook
(``alerts:write``); docs/sender-health.md."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select, update

from runtime.api.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.sender_alerts import (
    AlertWebhookIn,
    AlertWebhookOut,
    MarkedOut,
    MarkReadIn,
    SenderAlertOut,
)
from runtime.clock import utc_now
from runtime.domain import sender_alerts
from runtime.domain.audit import audit
from runtime.domain.errors import NotFound
from runtime.domain.security import encrypt_secret
from runtime.models import AlertWebhook, Sender, SenderAlert

router = APIRouter(prefix="/api/sender-alerts", tags=["sender health"])

READ = perm("alerts:read")
WRITE = perm("alerts:write")


@router.get("", response_model=Page[SenderAlertOut], dependencies=[READ])
async def list_alerts(
    principal: PrincipalDep,
    session: SessionDep,
    unread: bool = False,
    sender_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[SenderAlertOut]:
    """Newest first; ``unread=true`` only those not marked read; ``sender_id`` one number's."""
    stmt = select(SenderAlert).where(SenderAlert.tenant_id == principal.tenant_id)
    if unread:
        stmt = stmt.where(SenderAlert.read_at.is_(None))
    if sender_id is not None:
        stmt = stmt.where(SenderAlert.sender_id == sender_id)
    rows, next_cursor = await paginate(session, stmt, SenderAlert, cursor, limit)
    senders = {
        s.id: s
        for s in (
            await session.execute(select(Sender).where(Sender.id.in_({a.sender_id for a in rows})))
        ).scalars()
    }
    items = [
        SenderAlertOut.model_validate(sender_alerts.alert_json(a, senders[a.sender_id]))
        for a in rows
    ]
    return Page(items=items, next_cursor=next_cursor)


@router.post("/read", response_model=MarkedOut, dependencies=[READ])
async def mark_read(
    body: MarkReadIn, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> MarkedOut:
    """Mark alerts read (``ids``, or ``all: true``); ids of other tenants match nothing."""
    marked = await sender_alerts.mark_read(session, principal.tenant_id, body.ids, utc_now(clock))
    await session.commit()
    return MarkedOut(marked=marked)


def _webhook_out(webhook: AlertWebhook) -> AlertWebhookOut:
    return AlertWebhookOut(
        url=webhook.url,
        signature_header=sender_alerts.SIGNATURE_HEADER,
        updated_at=webhook.updated_at,
    )


@router.get("/webhook", response_model=AlertWebhookOut, dependencies=[READ])
async def get_webhook(principal: PrincipalDep, session: SessionDep) -> AlertWebhookOut:
    webhook = await session.get(AlertWebhook, principal.tenant_id)
    if webhook is None:
        raise NotFound("Alert webhook")
    return _webhook_out(webhook)


@router.put("/webhook", response_model=AlertWebhookOut, dependencies=[WRITE])
async def set_webhook(
    body: AlertWebhookIn, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> AlertWebhookOut:
    """Set where alerts are POSTed and the secret that signs them (stored encrypted, never
    returned); alerts raised from now on are delivered."""
    secret = encrypt_secret(body.secret, settings.encryption_key.get_secret_value())
    webhook = await session.get(AlertWebhook, principal.tenant_id)
    if webhook is None:
        webhook = AlertWebhook(tenant_id=principal.tenant_id, url=body.url, secret_encrypted=secret)
        session.add(webhook)
    webhook.url, webhook.secret_encrypted = body.url, secret
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "alert_webhook.set",
        "tenant",
        principal.tenant_id,
        {"url": body.url, "secret": "set"},
    )
    await session.commit()
    return _webhook_out(webhook)


@router.delete("/webhook", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WRITE])
async def delete_webhook(principal: PrincipalDep, session: SessionDep) -> None:
    """Stop posting alerts; those still waiting for delivery are dropped."""
    webhook = await session.get(AlertWebhook, principal.tenant_id)
    if webhook is None:
        raise NotFound("Alert webhook")
    await session.delete(webhook)
    await session.execute(
        update(SenderAlert)
        .where(SenderAlert.tenant_id == principal.tenant_id, SenderAlert.delivery == "pending")
        .values(delivery="none", deliver_after=None)
    )
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "alert_webhook.delete",
        "tenant",
        principal.tenant_id,
        {},
    )
    await session.commit()
