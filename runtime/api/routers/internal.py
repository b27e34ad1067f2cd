"""Cluster-internal endpoints the operator calls: publish and withdraw Sender resources.

Authenticated with ``Authorization: Bearer <SCRM_INTERNAL_TOKEN>``; absent when no internal
token is configured. Never exposed through the Ingress (the operator's NetworkPolicy and
Ingress only route ``/api``, ``/ws`` and ``/webhooks`` from outside)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import SessionDep, SettingsDep
from runtime.api.schemas.internal import PublicationOut, SenderPublication
from runtime.api.schemas.senders import DIGITS
from runtime.domain.audit import audit
from runtime.domain.errors import Conflict, NotFound, Unauthorized
from runtime.domain.security import encrypt_secret
from runtime.domain.senders import add_to_team, withdraw
from runtime.models import Sender, Team, Tenant
from runtime.settings import Settings


def _bearer_token(authorization: str) -> bytes | None:
    """The token of exactly ``Bearer <token>`` (one space, case-sensitive scheme), else None."""
    scheme, space, token = authorization.partition(" ")
    return token.encode() if scheme == "Bearer" and space and token else None


def require_internal_token(request: Request, settings: SettingsDep) -> None:
    expected = settings.internal_token
    if expected is None:
        raise NotFound("Internal API")
    given = _bearer_token(request.headers.get("authorization", ""))
    # Compared in constant time; a malformed header is compared too, against nothing.
    valid = hmac.compare_digest(given or b"", expected.get_secret_value().encode())
    if given is None or not valid:
        raise Unauthorized("invalid_internal_token", "The internal token is wrong.")


router = APIRouter(
    prefix="/internal", tags=["internal"], dependencies=[Depends(require_internal_token)]
)
PhoneNumberId = Annotated[str, Path(pattern=DIGITS)]


async def _tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"Tenant {slug!r}")
    return tenant


def _apply(sender: Sender, body: SenderPublication, settings: Settings) -> None:
    sender.display_number = body.display_number
    sender.waba_id = body.waba_id
    sender.verified_name = body.verified_name
    sender.quality_rating = "UNKNOWN" if body.quality_rating == "NA" else body.quality_rating
    sender.messaging_limit_tier = body.messaging_limit_tier
    sender.status = body.status
    if body.access_token is not None:
        key = settings.encryption_key.get_secret_value()
        sender.access_token_encrypted = encrypt_secret(body.access_token, key)
        sender.access_token_secret_ref = None
    else:
        sender.access_token_secret_ref = body.access_token_secret_ref
        sender.access_token_encrypted = None


@router.put("/senders/{phone_number_id}", response_model=PublicationOut)
async def publish_sender(
    phone_number_id: PhoneNumberId,
    body: SenderPublication,
    session: SessionDep,
    settings: SettingsDep,
) -> PublicationOut:
    """Create or update the tenant's sender; allocate it to the named teams."""
    tenant = await _tenant(session, body.tenant_slug)
    sender = await session.scalar(select(Sender).where(Sender.phone_number_id == phone_number_id))
    created = sender is None
    if sender is None:
        sender = Sender(tenant_id=tenant.id, phone_number_id=phone_number_id)
        session.add(sender)
    elif sender.tenant_id != tenant.id:
        raise Conflict("sender_exists", "This number belongs to another tenant.")
    _apply(sender, body, settings)
    await session.flush()
    unknown = []
    for allocation in body.allocations:
        team_id = await session.scalar(
            select(Team.id).where(Team.tenant_id == tenant.id, Team.name == allocation.team)
        )
        if team_id is None:
            unknown.append(allocation.team)
        else:
            await add_to_team(session, sender, team_id, allocation.role)
    audit(
        session,
        tenant.id,
        None,
        "sender.publish",
        "sender",
        sender.id,
        {"phone_number_id": phone_number_id, "status": body.status, "by": "operator"},
    )
    await session.commit()
    return PublicationOut(sender_id=str(sender.id), created=created, unknown_teams=unknown)


@router.delete("/senders/{phone_number_id}", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_sender(phone_number_id: PhoneNumberId, session: SessionDep) -> None:
    """The Sender resource was deleted: withdraw the number, keep its conversations."""
    sender = await session.scalar(select(Sender).where(Sender.phone_number_id == phone_number_id))
    if sender is None:
        raise NotFound("Sender")
    audit(
        session,
        sender.tenant_id,
        None,
        "sender.withdraw",
        "sender",
        sender.id,
        {"phone_number_id": phone_number_id, "by": "operator"},
    )
    await withdraw(session, sender)
    await session.commit()
