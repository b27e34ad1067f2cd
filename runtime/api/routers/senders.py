"""Sender numbers, their allocation to teams/agents, and the routing rule."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep, WhatsAppDep, perm
from runtime.api.schemas.senders import (
    AllocationIn,
    AllocationOut,
    RouteOut,
    SenderCreate,
    SenderOut,
    SenderUpdate,
)
from runtime.clock import utc_now
from runtime.domain.audit import audit
from runtime.domain.errors import Conflict, Invalid
from runtime.domain.lookup import get_owned
from runtime.domain.security import encrypt_secret
from runtime.domain.sender_health import Observation, set_health, take_baseline
from runtime.domain.sender_proof import prove_number
from runtime.domain.sender_tokens import read_mounted_secret
from runtime.domain.senders import route_sender, set_allocation, withdraw
from runtime.models import Agent, Contact, Sender, SenderAllocation, Team

router = APIRouter(prefix="/api/senders", tags=["senders"])


@router.get("", response_model=list[SenderOut], dependencies=[perm("senders:read")])
async def list_senders(principal: PrincipalDep, session: SessionDep) -> list[Sender]:
    rows = await session.execute(
        select(Sender).where(Sender.tenant_id == principal.tenant_id).order_by(Sender.created_at)
    )
    return list(rows.scalars())


@router.post(
    "",
    response_model=SenderOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("senders:write")],
)
async def create_sender(
    body: SenderCreate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    whatsapp: WhatsAppDep,
    clock: ClockDep,
) -> Sender:
    """Register a number once Meta confirms it for the token and WABA (before any uniqueness
    check, so a refusal says nothing about other tenants' numbers). Quality, tier, status
    and throughput level start from Meta's answer unless given."""
    token = body.access_token or read_mounted_secret(body.access_token_secret_ref or "", settings)
    if token is None:
        raise Invalid("sender_token_unavailable", "The access token secret cannot be read.")
    await session.commit()  # no transaction stays open while Meta is asked
    info = await prove_number(whatsapp, body.phone_number_id, body.waba_id, token)
    if await session.scalar(
        select(Sender.id).where(Sender.phone_number_id == body.phone_number_id)
    ):
        raise Conflict(
            "sender_exists", f"phone_number_id {body.phone_number_id} is already registered."
        )
    sender = Sender(
        tenant_id=principal.tenant_id,
        **body.model_dump(exclude={"access_token"}),
        access_token_encrypted=(
            encrypt_secret(body.access_token, settings.encryption_key.get_secret_value())
            if body.access_token
            else None
        ),
    )
    take_baseline(sender, Observation.of(info), body.model_fields_set, utc_now(clock))
    session.add(sender)
    await session.flush()
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "sender.create",
        "sender",
        sender.id,
        {"phone_number_id": body.phone_number_id},
    )
    await session.commit()
    return sender


@router.get("/allocations", response_model=list[AllocationOut], dependencies=[perm("senders:read")])
async def list_allocations(principal: PrincipalDep, session: SessionDep) -> list[AllocationOut]:
    rows = await session.execute(
        select(SenderAllocation)
        .where(SenderAllocation.tenant_id == principal.tenant_id)
        .order_by(SenderAllocation.position)
    )
    grouped: dict[tuple[str, uuid.UUID], AllocationOut] = {}
    for a in rows.scalars():
        kind: Literal["team", "agent"] = "team" if a.team_id else "agent"
        holder_id = a.team_id or a.agent_id
        assert holder_id is not None
        out = grouped.setdefault(
            (kind, holder_id),
            AllocationOut(holder_type=kind, holder_id=holder_id, primary=None, secondaries=[]),
        )
        if a.kind == "primary":
            out.primary = a.sender_id
        else:
            out.secondaries.append(a.sender_id)
    return list(grouped.values())


async def _allocate(
    session: AsyncSession,
    principal: PrincipalDep,
    kind: Literal["team", "agent"],
    holder_id: uuid.UUID,
    body: AllocationIn,
) -> AllocationOut:
    await get_owned(session, Team if kind == "team" else Agent, holder_id, principal.tenant_id)
    await set_allocation(
        session, principal.tenant_id, (kind, holder_id), body.primary, body.secondaries
    )
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "sender.allocate",
        kind,
        holder_id,
        body.model_dump(mode="json"),
    )
    await session.commit()
    return AllocationOut(
        holder_type=kind,
        holder_id=holder_id,
        primary=body.primary,
        secondaries=list(dict.fromkeys(body.secondaries)),
    )


@router.put(
    "/allocations/teams/{team_id}",
    response_model=AllocationOut,
    dependencies=[perm("senders:allocate")],
)
async def allocate_to_team(
    team_id: uuid.UUID, body: AllocationIn, principal: PrincipalDep, session: SessionDep
) -> AllocationOut:
    return await _allocate(session, principal, "team", team_id, body)


@router.put(
    "/allocations/agents/{agent_id}",
    response_model=AllocationOut,
    dependencies=[perm("senders:allocate")],
)
async def allocate_to_agent(
    agent_id: uuid.UUID, body: AllocationIn, principal: PrincipalDep, session: SessionDep
) -> AllocationOut:
    return await _allocate(session, principal, "agent", agent_id, body)


@router.get("/route", response_model=RouteOut, dependencies=[perm("senders:read")])
async def which_sender(
    agent_id: uuid.UUID,
    contact_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> RouteOut:
    """Which sender ``agent_id`` uses to reach ``contact_id``, and by which step of the rule."""
    await get_owned(session, Agent, agent_id, principal.tenant_id)
    await get_owned(session, Contact, contact_id, principal.tenant_id)
    route = await route_sender(session, principal.tenant_id, agent_id, contact_id, utc_now(clock))
    return RouteOut(sender=SenderOut.model_validate(route.sender), reason=route.reason)


@router.get("/{sender_id}", response_model=SenderOut, dependencies=[perm("senders:read")])
async def get_sender(sender_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> Sender:
    return await get_owned(session, Sender, sender_id, principal.tenant_id)


@router.patch("/{sender_id}", response_model=SenderOut, dependencies=[perm("senders:write")])
async def update_sender(
    sender_id: uuid.UUID,
    body: SenderUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    whatsapp: WhatsAppDep,
    clock: ClockDep,
) -> Sender:
    """A new access token is stored only once Meta confirms it for the number and its WABA
    (it clears a ``token_invalid`` mark); ``health: "ok"`` clears any health mark."""
    if body.access_token is not None:
        sender = await get_owned(session, Sender, sender_id, principal.tenant_id)
        number, waba = sender.phone_number_id, sender.waba_id
        await session.commit()  # no transaction stays open while Meta is asked
        await prove_number(whatsapp, number, waba, body.access_token)
    sender = await get_owned(session, Sender, sender_id, principal.tenant_id)
    if sender.status == "withdrawn":
        raise Conflict("sender_withdrawn", "A withdrawn sender cannot be changed.")
    changes = body.model_dump(exclude_unset=True, exclude={"access_token", "health"})
    for field, value in changes.items():
        setattr(sender, field, value)
    if body.access_token is not None:
        sender.access_token_encrypted = encrypt_secret(
            body.access_token, settings.encryption_key.get_secret_value()
        )
        sender.access_token_secret_ref = None
    await _clear_health(session, sender, body, utc_now(clock))
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "sender.update",
        "sender",
        sender.id,
        body.model_dump(exclude_unset=True, exclude={"access_token"})
        | ({"access_token": "rotated"} if body.access_token else {}),
    )
    await session.commit()
    return sender


async def _clear_health(
    session: AsyncSession, sender: Sender, body: SenderUpdate, now: datetime
) -> None:
    if body.health == "ok":
        await set_health(session, sender, "ok", "Cleared by an admin.", "admin", now)
    elif body.access_token is not None and sender.health == "token_invalid":
        await set_health(session, sender, "ok", "A new access token was set.", "admin", now)


@router.delete(
    "/{sender_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[perm("senders:write")]
)
async def withdraw_sender(
    sender_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    """Remove a number: allocations go; with conversations it stays as ``withdrawn`` so
    their history is kept, otherwise it is deleted."""
    sender = await get_owned(session, Sender, sender_id, principal.tenant_id)
    await withdraw(session, sender)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "sender.withdraw",
        "sender",
        sender_id,
        {"phone_number_id": sender.phone_number_id},
    )
    await session.commit()
