"""Internal notes: messages of the team about a conversation, never sent to Meta.

A note is a ``Message`` with ``direction`` ``note`` (status ``note``, no wamid), numbered in
the conversation like any message so it sits in the thread where it was written. Nothing
reads notes into the send queue: that takes only rows it is handed by ``outbound.submit``.
``@mentions`` name agents of the tenant; each mentioned agent hears a ``note.mention`` on its
personal key even when the conversation is not assigned to it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox
from runtime.domain.errors import Invalid
from runtime.domain.events import record_event
from runtime.domain.visibility import Viewer, personal_key
from runtime.models import Agent, Contact, Conversation, Message

NOTE = "note"


async def mentioned_agents(
    session: AsyncSession, tenant_id: uuid.UUID, agent_ids: list[uuid.UUID]
) -> list[Agent]:
    """The mentioned agents, in order; 422 ``mention_unknown_agent`` when one is not an
    active agent of the tenant (another tenant's agent is indistinguishable from none)."""
    wanted = list(dict.fromkeys(agent_ids))
    if not wanted:
        return []
    found = {
        a.id: a
        for a in await session.scalars(
            select(Agent).where(
                Agent.id.in_(wanted), Agent.tenant_id == tenant_id, Agent.status != "disabled"
            )
        )
    }
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Invalid(
            "mention_unknown_agent",
            "Only active agents of this workspace can be mentioned.",
            {"agent_ids": missing},
        )
    return [found[i] for i in wanted]


async def add_note(
    session: AsyncSession,
    author: Viewer,
    conversation: Conversation,
    contact: Contact,
    body: str,
    mention_ids: list[uuid.UUID],
    now: datetime,
) -> Message:
    """Store the note, tell the conversation's audience (``message.created``) and each
    mentioned agent (``note.mention``)."""
    mentioned = await mentioned_agents(session, author.tenant_id, mention_ids)
    note = Message(
        id=uuid.uuid4(),
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        conversation_seq=await inbox.next_seq(session, conversation),
        wamid=None,
        direction=NOTE,
        type=NOTE,
        body=body,
        payload={"mentions": [str(a.id) for a in mentioned]},
        status=NOTE,
        sent_by_agent_id=author.agent_id,
        created_at=now,
    )
    session.add(note)
    await inbox.emit_message(session, conversation, note, "message.created")
    for agent in mentioned:
        await record_event(
            session,
            conversation.tenant_id,
            "note.mention",
            {
                "conversation_id": str(conversation.id),
                "contact_name": contact.name,
                "author_agent_id": str(author.agent_id),
                "note": inbox.message_json(note),
            },
            [personal_key(agent.id)],
        )
    return note
