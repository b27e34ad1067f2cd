"""Sign-in (throttled, no account enumeration), refresh-token families, logout, password change.

Every sign-in attempt costs exactly one argon2 verification whatever the answer (unknown
e-mail, wrong password, throttled, disabled), so neither the answer nor its timing tells
whether an account exists. The one exception: an e-mail held in several tenants is checked
against each of them before ``tenant_required`` is revealed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc, utcnow
from runtime.domain import login_throttle
from runtime.domain.errors import Forbidden, Invalid, Unauthorized
from runtime.domain.security import (
    AccessClaims,
    hash_password,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from runtime.domain.sessions import end_sessions
from runtime.models import Agent, RefreshToken, Tenant
from runtime.settings import Settings

_BAD_CREDENTIALS = Unauthorized("invalid_credentials", "E-mail or password is wrong.")
_BAD_REFRESH = Unauthorized("invalid_refresh_token", "The refresh token is invalid or expired.")
_MAX_TENANTS_PER_EMAIL = 20


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    agent_id: uuid.UUID
    tenant_id: uuid.UUID


async def _candidates(session: AsyncSession, email: str, tenant_slug: str | None) -> list[Agent]:
    stmt = select(Agent).where(Agent.email == email.lower())
    if tenant_slug is not None:
        stmt = stmt.join(Tenant, Tenant.id == Agent.tenant_id).where(Tenant.slug == tenant_slug)
    return list(await session.scalars(stmt.order_by(Agent.id).limit(_MAX_TENANTS_PER_EMAIL)))


def _password_matches(candidates: list[Agent], password: str) -> list[Agent]:
    """The candidates ``password`` is right for; one argon2 verification even with none."""
    if not candidates:
        verify_password(None, password)
        return []
    return [agent for agent in candidates if verify_password(agent.password_hash, password)]


async def _issue(
    session: AsyncSession, agent: Agent, settings: Settings, family_id: uuid.UUID | None = None
) -> TokenPair:
    """A new link of refresh family ``family_id`` (a new family: a new sign-in) + access token."""
    refresh, refresh_hash = new_refresh_token()
    family = family_id or uuid.uuid4()
    session.add(
        RefreshToken(
            tenant_id=agent.tenant_id,
            agent_id=agent.id,
            family_id=family,
            token_hash=refresh_hash,
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    access = issue_access_token(
        AccessClaims(agent.id, agent.tenant_id, agent.token_version or 0, family),
        settings.jwt_secret.get_secret_value(),
        settings.access_token_ttl_seconds,
    )
    return TokenPair(access, refresh, settings.access_token_ttl_seconds, agent.id, agent.tenant_id)


async def login(
    session: AsyncSession,
    settings: Settings,
    email: str,
    password: str,
    tenant: str | None,
    client_address: str,
) -> TokenPair:
    throttle = login_throttle.throttle_for(settings, email, client_address)
    refusal = await login_throttle.refusal(session, throttle)
    candidates = await _candidates(session, email, tenant)  # looked up on every path alike
    if refusal is not None:
        _password_matches([], password)  # the same one verification as every other answer
        raise refusal
    matches = _password_matches(candidates, password)
    if not matches:
        await login_throttle.record_failure(session, throttle)
        await session.commit()
        raise _BAD_CREDENTIALS
    if len(candidates) > 1:
        raise Invalid(
            "tenant_required",
            "This e-mail belongs to several tenants; say which one with 'tenant'.",
        )
    agent = matches[0]
    if agent.status == "disabled":
        raise Unauthorized("agent_disabled", "This agent is disabled.")
    await login_throttle.clear_pair(session, throttle)
    pair = await _issue(session, agent, settings)
    await session.commit()
    return pair


async def _refresh_link(session: AsyncSession, token: str) -> RefreshToken:
    """The unexpired link ``token`` names (possibly spent or revoked), or 401."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    if row is None or as_utc(row.expires_at) <= utcnow():
        raise _BAD_REFRESH
    return row


async def _end_family(session: AsyncSession, link: RefreshToken, reason: str) -> None:
    agent = await session.get(Agent, link.agent_id)
    if agent is not None:
        await end_sessions(session, agent, reason, family_id=link.family_id)
    await session.commit()


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    """Rotate: the presented link is spent and the next link of its family issued.

    A spent link presented again means the token was copied: the whole family (the sign-in)
    is revoked — committed, although the answer is 401 — and its sockets closed.
    """
    link = await _refresh_link(session, token)
    if link.rotated_at is not None:
        await _end_family(session, link, "refresh_reuse")
        raise _BAD_REFRESH
    if link.revoked_at is not None:
        raise _BAD_REFRESH
    agent = await session.get(Agent, link.agent_id)
    if agent is None or agent.status == "disabled":
        raise Unauthorized("agent_disabled", "This agent is disabled.")
    link.rotated_at = link.revoked_at = utcnow()
    pair = await _issue(session, agent, settings, link.family_id)
    await session.commit()
    return pair


async def logout(session: AsyncSession, token: str) -> None:
    """End the sign-in ``token`` belongs to: every link of its family, and its sockets."""
    await _end_family(session, await _refresh_link(session, token), "logout")


async def change_password(
    session: AsyncSession,
    settings: Settings,
    agent: Agent,
    current_password: str,
    new_password: str,
    client_address: str,
) -> TokenPair:
    """Every session of ``agent`` ends (older access tokens are refused); the caller gets a
    fresh sign-in. Wrong current passwords count as failed sign-ins (throttled alike).
    ``new_password`` has passed the password policy already (the request schema)."""
    throttle = login_throttle.throttle_for(settings, agent.email, client_address)
    refusal = await login_throttle.refusal(session, throttle)
    if refusal is not None:
        raise refusal
    if not verify_password(agent.password_hash, current_password):
        await login_throttle.record_failure(session, throttle)
        await session.commit()
        raise Forbidden("wrong_password", "The current password is wrong.")
    agent.password_hash = hash_password(new_password)
    await end_sessions(session, agent, "password_change")
    pair = await _issue(session, agent, settings)
    await session.commit()
    return pair
