"""Reactions on a message, as its ``reactions`` JSON keeps them.

``customer`` and ``business`` hold each side's emoji. Ours shows as soon as the agent reacts;
when Meta refuses that reaction for good (the send's error or a ``failed`` status), its
message carries ``refused`` — the emoji ("" for a removal), Meta's code and text, and the
reaction message's id — until our next reaction to it, and ``business`` goes back to the
emoji Meta still has there (that of our latest earlier reaction it did not refuse). A
refusal that a later reaction of ours, not refused, already replaced changes nothing.
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
    refusal and the emoji Meta still carries there: that of our latest earlier reaction
    not refused ("" or none: no emoji). A refused removal thus shows the emoji it did not
    remove. None when ``reaction`` is not a reaction, its message is gone, or a later
    reaction of ours, not refused, replaced it."""
    if reaction.type != "reaction" or reaction.direction != "outbound":
        return None
    target_id = str(reaction.payload.get("reaction_to_id"))
    ours = [
        (seq, payload, status)
        for seq, payload, status in await session.execute(
            select(Message.conversation_seq, Message.payload, Message.status)
            .where(
                Message.conversation_id == reaction.conversation_id,
                Message.type == "reaction",
                Message.direction == "outbound",
                Message.id != reaction.id,
            )
            .order_by(Message.conversation_seq)
        )
        if payload.get("reaction_to_id") == target_id
    ]
    later = [status for seq, _, status in ours if seq > reaction.conversation_seq]
    if any(status != "failed" for status in later):
        return None
    target = await session.scalar(
        select(Message).where(
            Message.id == uuid.UUID(target_id), Message.conversation_id == reaction.conversation_id
        )
    )
    if target is None:
        return None
    standing = [p["reaction"]["emoji"] for _, p, status in ours if status != "failed"]
    changed = {k: v for k, v in (target.reactions or {}).items() if k != "business"}
    if standing and standing[-1]:
        changed["business"] = standing[-1]
    if not later:  # else the refusal shown is that of our latest reaction, refused as well
        changed[REFUSED] = {
            "emoji": reaction.payload["reaction"]["emoji"],
            "error_code": reaction.error_code,
            "error_message": reaction.error_message,
            "reaction_id": str(reaction.id),
        }
    if changed == target.reactions:
        return None
    target.reactions = changed
    return target
