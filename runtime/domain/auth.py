"""Login with lockout, refresh-token rotation and logout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc, utcnow
from runtime.domain.errors import Invalid, TooManyRequests, Unauthorized
from runtime.domain.security import (
    AccessClaims,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from runtime.models import Agent, LoginThrottle, RefreshToken, Tenant
from runtime.settings import Settings

_BAD_CREDENTIALS = Unauthorized("invalid_credentials", "E-mail or password is wrong.")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    agent_id: uuid.UUID
    tenant_id: uuid.UUID


async def _find_agent(session: AsyncSession, email: str, tenant_slug: str | None) -> Agent | None:
    stmt = select(Agent).where(Agent.email == email.lower())
    if tenant_slug is not None:
        stmt = stmt.join(Tenant, Tenant.id == Agent.tenant_id).where(Tenant.slug == tenant_slug)
    agents = list((await session.execute(stmt.limit(2))).scalars())
    if len(agents) > 1:
        raise Invalid(
            "tenant_required",
            "This e-mail belongs to several tenants; say which one with 'tenant'.",
        )
    return agents[0] if agents else None


async def _issue(
    session: AsyncSession, agent: Agent, settings: Settings, family_id: uuid.UUID | None = None
) -> TokenPair:
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
    session: AsyncSession, settings: Settings, email: str, password: str, tenant: str | None
) -> TokenPair:
    agent = await _find_agent(session, email, tenant)
    now = utcnow()
    if agent is None:
        verify_password(None, password)  # same cost as a real check
        raise _BAD_CREDENTIALS
    throttle = await session.get(LoginThrottle, f"acct:{agent.id}")  # interim: see issue 9
    if throttle and throttle.blocked_until and as_utc(throttle.blocked_until) > now:
        wait = int((as_utc(throttle.blocked_until) - now).total_seconds()) + 1
        raise TooManyRequests(
            "account_locked", "Too many failed logins; try again later.", retry_after=wait
        )
    if not verify_password(agent.password_hash, password):
        if throttle is None:
            throttle = LoginThrottle(key=f"acct:{agent.id}", failures=0, window_started_at=now)
            session.add(throttle)
        throttle.failures += 1
        if throttle.failures >= settings.login_max_failures:
            throttle.blocked_until = now + timedelta(seconds=settings.login_lockout_seconds)
            throttle.failures = 0
        await session.commit()
        raise _BAD_CREDENTIALS
    if agent.status == "disabled":
        raise Unauthorized("agent_disabled", "This agent is disabled.")
    if throttle is not None:
        await session.delete(throttle)
    pair = await _issue(session, agent, settings)
    await session.commit()
    return pair


async def _active_refresh(session: AsyncSession, token: str) -> RefreshToken:
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        raise Unauthorized("invalid_refresh_token", "The refresh token is invalid or expired.")
    return row


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    """Rotate: the presented refresh token is revoked and a new pair issued."""
    row = await _active_refresh(session, token)
    agent = await session.get(Agent, row.agent_id)
    if agent is None or agent.status == "disabled":
        raise Unauthorized("agent_disabled", "This agent is disabled.")
    row.rotated_at = row.revoked_at = utcnow()
    pair = await _issue(session, agent, settings, row.family_id)
    await session.commit()
    return pair


async def logout(session: AsyncSession, token: str) -> None:
    row = await _active_refresh(session, token)
    row.revoked_at = utcnow()
    await session.commit()
