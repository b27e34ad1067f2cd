"""Reactions on a message, as its ``reactions`` JSON keeps them.

``customer`` and ``business`` hold each side's emoji. Ours shows as soon as the agent reacts;
when Meta refuses that reaction for good (the send's error or a ``failed`` status), it is
taken off its message, which carries ``refused`` instead — the emoji, Meta's code and text,
and the reaction message's id — until our next reaction to it. A refusal that a later
reaction of ours already replaced changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.models import Message

SIDES = ("customer", "business")
REFUSED = "refused"


def shown(reactions: dict[str, Any] | None) -> dict[str, str]:
    """Each side's emoji, as the API shows them."""
    return {side: (reactions or {})[side] for side in SIDES if (reactions or {}).get(side)}


def refusal(reactions: dict[str, Any] | None) -> dict[str, Any] | None:
    """Meta's refusal of our latest reaction to the message, if it was refused."""
    return (reactions or {}).get(REFUSED)


def with_ours(reactions: dict[str, Any] | None, emoji: str) -> dict[str, Any] | None:
    """``reactions`` after the agent reacts with ``emoji`` ("" removes ours); an earlier
    refusal is forgotten."""
    changed = {k: v for k, v in (reactions or {}).items() if k not in ("business", REFUSED)}
    if emoji:
        changed["business"] = emoji
    return changed or None


async def take_back_refused(session: AsyncSession, reaction: Message) -> Message | None:
    """The message ``reaction`` (ours, now ``failed``) reacted to, changed to show the
    refusal instead of the emoji; None when ``reaction`` is not a reaction, its message is
    gone, or a later reaction of ours replaced it."""
    if reaction.type != "reaction" or reaction.direction != "outbound":
        return None
    target_id = str(reaction.payload.get("reaction_to_id"))
    later = await session.scalars(
        select(Message.payload).where(
            Message.conversation_id == reaction.conversation_id,
            Message.type == "reaction",
            Message.direction == "outbound",
            Message.conversation_seq > reaction.conversation_seq,
        )
    )
    if any(payload.get("reaction_to_id") == target_id for payload in later):
        return None
    target = await session.scalar(
        select(Message).where(
            Message.id == uuid.UUID(target_id), Message.conversation_id == reaction.conversation_id
        )
    )
    if target is None:
        return None
    changed = {k: v for k, v in (target.reactions or {}).items() if k != "business"}
    changed[REFUSED] = {
        "emoji": reaction.payload["reaction"]["emoji"],
        "error_code": reaction.error_code,
        "error_message": reaction.error_message,
        "reaction_id": str(reaction.id),
    }
    target.reactions = changed
    return target
