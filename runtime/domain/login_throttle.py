"""Failed sign-ins counted per client address and per (typed e-mail, client address).

The counters live in ``login_throttle`` so every api replica sees the same ones. Nothing is
counted per account: a stranger's wrong guesses from one address never stop the account's
owner signing in from another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc, utcnow
from runtime.domain.errors import TooManyRequests
from runtime.models import LoginThrottle
from runtime.settings import Settings


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


@dataclass(frozen=True)
class Throttle:
    """The limits that apply to one sign-in attempt."""

    address: Limit
    pair: Limit
    window: timedelta

    @property
    def limits(self) -> tuple[Limit, Limit]:
        return self.address, self.pair


def throttle_for(settings: Settings, email: str, client_address: str) -> Throttle:
    """``email`` as typed (lowercased), so unknown and known e-mails are counted alike."""
    return Throttle(
        Limit(f"addr:{client_address}", settings.login_max_failures_per_address),
        Limit(
            f"pair:{email.lower()}|{client_address}",
            settings.login_max_failures_per_email_and_address,
        ),
        timedelta(seconds=settings.login_throttle_window_seconds),
    )


async def refusal(session: AsyncSession, throttle: Throttle) -> TooManyRequests | None:
    """``429 too_many_attempts`` while either key is blocked, else None."""
    now = utcnow()
    keys = [limit.key for limit in throttle.limits]
    rows = (await session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))).all()
    waits = [
        as_utc(row.blocked_until) - now
        for row in rows
        if row.blocked_until is not None and as_utc(row.blocked_until) > now
    ]
    if not waits:
        return None
    return TooManyRequests(
        "too_many_attempts",
        "Too many failed sign-ins from here; try again later.",
        retry_after=int(max(waits).total_seconds()) + 1,
    )


async def record_failure(session: AsyncSession, throttle: Throttle) -> None:
    """Count one failure on both keys; a key reaching its limit is blocked for a window.

    Counters whose window and block are over are purged on the way, so e-mails sprayed from
    many addresses cannot grow the table without bound."""
    now = utcnow()
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_started_at < now - throttle.window,
            (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < now),
        )
    )
    for limit in throttle.limits:
        row = await _locked_row(session, limit.key)
        if as_utc(row.window_started_at) + throttle.window <= now:
            row.failures, row.window_started_at, row.blocked_until = 0, now, None
        row.failures += 1
        if row.failures >= limit.max_failures:
            row.blocked_until = now + throttle.window
            row.failures, row.window_started_at = 0, now


async def clear_pair(session: AsyncSession, throttle: Throttle) -> None:
    """A successful sign-in forgets the failures of its (e-mail, address) pair."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == throttle.pair.key))


async def _locked_row(session: AsyncSession, key: str) -> LoginThrottle:
    """The counter row for ``key``, created if missing, locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, window_started_at=utcnow())
        .on_conflict_do_nothing(index_elements=[LoginThrottle.key])
    )
    return (
        await session.execute(
            select(LoginThrottle)
            .where(LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
