"""Meta's typing indicator while an agent types: at most once per ``TYPING_INTERVAL`` per
conversation (shared by every api replica through one conditional UPDATE), only inside the
customer service window, for the last inbound message (Meta marks it read as well)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import DomainError
from runtime.domain.inbox import window_open
from runtime.domain.sender_tokens import resolve_token
from runtime.models import Conversation, Message, Sender
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import WhatsAppError

log = logging.getLogger(__name__)

# Meta shows the indicator for up to 25 s (or until the reply arrives); asking every 20 s
# keeps it up while the agent keeps typing.
TYPING_INTERVAL = timedelta(seconds=20)


@dataclass(frozen=True, slots=True)
class TypingDecision:
    """``wamid`` to send the indicator for, or the ``reason`` it is not sent."""

    wamid: str | None
    reason: str | None


async def claim_typing(
    session: AsyncSession, conversation: Conversation, sender: Sender, now: datetime
) -> TypingDecision:
    """Decide, and when sending, take this interval's turn (the caller commits, then calls
    Meta). Reasons: ``window_closed``, ``sender_inactive``, ``no_inbound_message``,
    ``throttled``."""
    if not window_open(conversation, now):
        return TypingDecision(None, "window_closed")
    if sender.status != "active":
        return TypingDecision(None, "sender_inactive")
    wamid = await session.scalar(
        select(Message.wamid)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == "inbound",
            Message.wamid.is_not(None),
        )
        .order_by(Message.conversation_seq.desc())
        .limit(1)
    )
    if wamid is None:
        return TypingDecision(None, "no_inbound_message")
    claimed = await session.scalar(
        update(Conversation)
        .where(
            Conversation.id == conversation.id,
            or_(
                Conversation.typing_indicated_at.is_(None),
                Conversation.typing_indicated_at <= now - TYPING_INTERVAL,
            ),
        )
        .values(typing_indicated_at=now)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    return TypingDecision(wamid, None) if claimed else TypingDecision(None, "throttled")


async def send_typing(
    client: CloudAPIClient, settings: Settings, sender: Sender, wamid: str
) -> str | None:
    """Ask Meta to show the indicator; ``None`` when it did, else why not (``meta_refused``
    is logged: a lost indicator is never an error for the agent)."""
    try:
        token = resolve_token(sender, settings)
    except DomainError as exc:
        return exc.code
    try:
        await client.send_typing_indicator(sender.phone_number_id, token, wamid)
    except (WhatsAppError, httpx.HTTPError) as exc:
        log.warning("typing indicator failed for sender %s: %s", sender.phone_number_id, exc)
        return "meta_refused"
    return None
