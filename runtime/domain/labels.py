"""Conversation labels: the tenant's catalogue and the labels on each conversation."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Conflict
from runtime.domain.events import record_event
from runtime.domain.lookup import get_owned
from runtime.domain.visibility import conversation_audience
from runtime.models import Conversation, ConversationLabel, Label

COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"


def label_json(label: Label) -> dict[str, Any]:
    return {"id": str(label.id), "name": label.name, "colour": label.colour}


async def flush_unique(session: AsyncSession, name: str) -> None:
    """Flush; a name the catalogue already has is 409 ``label_name_taken``."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "label_name_taken", f"A label named {name!r} already exists.", {"name": name}
        ) from exc


def labelled(label_id: uuid.UUID) -> Select[uuid.UUID]:
    """The ids of the conversations carrying ``label_id`` (a subquery for filters)."""
    return select(ConversationLabel.conversation_id).where(ConversationLabel.label_id == label_id)


async def labels_of(
    session: AsyncSession, conversation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Label ids per conversation (by label name)."""
    rows = await session.execute(
        select(ConversationLabel.conversation_id, ConversationLabel.label_id)
        .join(Label, Label.id == ConversationLabel.label_id)
        .where(ConversationLabel.conversation_id.in_(conversation_ids))
        .order_by(Label.name)
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for conversation_id, label_id in rows:
        out.setdefault(conversation_id, []).append(label_id)
    return out


async def set_label(
    session: AsyncSession, conversation: Conversation, label_id: uuid.UUID, present: bool
) -> list[uuid.UUID]:
    """Put the label on the conversation or take it off (both idempotent); tells the
    conversation's audience the new set with a ``conversation.labels`` event."""
    label = await get_owned(session, Label, label_id, conversation.tenant_id)
    link = await session.get(ConversationLabel, (conversation.id, label.id))
    if present and link is None:
        session.add(
            ConversationLabel(
                conversation_id=conversation.id, label_id=label.id, tenant_id=label.tenant_id
            )
        )
    elif not present and link is not None:
        await session.delete(link)
    await session.flush()
    label_ids = (await labels_of(session, [conversation.id])).get(conversation.id, [])
    await record_event(
        session,
        conversation.tenant_id,
        "conversation.labels",
        {"conversation_id": str(conversation.id), "label_ids": [str(i) for i in label_ids]},
        conversation_audience(conversation),
    )
    return label_ids
