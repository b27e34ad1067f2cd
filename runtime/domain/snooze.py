"""Snoozed conversations come back (``open``) when their ``snoozed_until`` has passed."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.clock import Clock, utc_now
from runtime.domain import inbox
from runtime.models import Contact, Conversation

log = logging.getLogger(__name__)


async def wake_snoozed(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Reopen up to ``limit`` conversations whose snooze ended; the caller commits."""
    rows = await session.execute(
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.status == "snoozed", Conversation.snoozed_until <= now)
        .limit(limit)
        .with_for_update(of=Conversation, skip_locked=True)
    )
    woken = 0
    for conversation, contact in rows:
        conversation.status, conversation.snoozed_until = "open", None
        await inbox.emit_conversation(session, conversation, contact, now)
        woken += 1
    return woken


async def run_waker(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, interval: float = 30.0
) -> None:
    """Forever: wake what is due, then sleep ``interval`` seconds (a task of the api)."""
    while True:
        try:
            async with sessionmaker() as session:
                if await wake_snoozed(session, utc_now(clock)):
                    await session.commit()
        except Exception:  # keep waking later; a failed round changes nothing
            log.exception("waking snoozed conversations failed")
        await asyncio.sleep(interval)
