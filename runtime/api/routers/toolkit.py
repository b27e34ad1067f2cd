"""The agent toolkit: canned responses, labels, internal notes, the typing indicator."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy import select

from runtime.api.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    WhatsAppDep,
    perm,
)
from runtime.api.schemas.inbox import MessageOut
from runtime.api.schemas.toolkit import (
    CannedCreate,
    CannedExpansion,
    CannedOut,
    CannedUpdate,
    ConversationLabelsOut,
    LabelCreate,
    LabelOut,
    LabelUpdate,
    MentionableOut,
    NoteIn,
    TypingOut,
)
from runtime.clock import utc_now
from runtime.domain import canned, inbox, labels, notes, typing_indicator
from runtime.domain.canned import SHORTCUT_PATTERN
from runtime.domain.lookup import get_owned, visible_conversation
from runtime.models import Agent, Label, Sender

canned_router = APIRouter(prefix="/api/canned-responses", tags=["toolkit"])
labels_router = APIRouter(prefix="/api/labels", tags=["toolkit"])
router = APIRouter(prefix="/api/conversations", tags=["toolkit"])
mentionable_router = APIRouter(prefix="/api/mentionable-agents", tags=["toolkit"])

SEND = perm("inbox:send")
READ = perm("inbox:read:all", "inbox:read:assigned")


# ---- canned responses ------------------------------------------------------------------------


@canned_router.get("", response_model=list[CannedOut], dependencies=[SEND])
async def list_canned(principal: PrincipalDep, session: SessionDep) -> list[CannedOut]:
    """The tenant's and your own, by shortcut."""
    return [
        CannedOut.model_validate(canned.canned_json(c))
        for c in await canned.usable(session, principal)
    ]


@canned_router.post(
    "", response_model=CannedOut, status_code=status.HTTP_201_CREATED, dependencies=[SEND]
)
async def create_canned(
    body: CannedCreate, principal: PrincipalDep, session: SessionDep
) -> CannedOut:
    """A personal one for yourself; a tenant-wide one needs ``canned:write``. A shortcut is
    unique per scope (409 ``shortcut_taken``); a personal one hides the tenant's of the same
    name for you."""
    created = await canned.create(
        session, principal, body.scope == "personal", body.shortcut, body.body
    )
    out = CannedOut.model_validate(canned.canned_json(created))
    await session.commit()
    return out


@canned_router.patch("/{canned_id}", response_model=CannedOut, dependencies=[SEND])
async def update_canned(
    canned_id: uuid.UUID, body: CannedUpdate, principal: PrincipalDep, session: SessionDep
) -> CannedOut:
    found = await canned.managed(session, principal, canned_id)
    if body.body is not None:
        canned.check_placeholders(body.body)
        found.body = body.body
    if body.shortcut is not None:
        found.shortcut = body.shortcut
    await canned.flush_unique(session, found.shortcut)
    out = CannedOut.model_validate(canned.canned_json(found))
    await session.commit()
    return out


@canned_router.delete("/{canned_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[SEND])
async def delete_canned(canned_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    await session.delete(await canned.managed(session, principal, canned_id))
    await session.commit()


@router.get(
    "/{conversation_id}/canned/{shortcut}", response_model=CannedExpansion, dependencies=[SEND]
)
async def expand_canned(
    conversation_id: uuid.UUID,
    shortcut: Annotated[str, Path(pattern=SHORTCUT_PATTERN)],
    principal: PrincipalDep,
    session: SessionDep,
) -> CannedExpansion:
    """``/shortcut`` expanded for this conversation's contact and you (404 if unknown)."""
    _, contact = await visible_conversation(session, principal, conversation_id)
    found = await canned.find_shortcut(session, principal, shortcut)
    return CannedExpansion(
        canned_response_id=found.id,
        shortcut=found.shortcut,
        text=canned.render(found.body, contact, principal.agent),
    )


# ---- labels ----------------------------------------------------------------------------------


@labels_router.get("", response_model=list[LabelOut], dependencies=[READ])
async def list_labels(principal: PrincipalDep, session: SessionDep) -> list[LabelOut]:
    rows = await session.scalars(
        select(Label).where(Label.tenant_id == principal.tenant_id).order_by(Label.name)
    )
    return [LabelOut.model_validate(labels.label_json(label)) for label in rows]


@labels_router.post(
    "",
    response_model=LabelOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("labels:write")],
)
async def create_label(body: LabelCreate, principal: PrincipalDep, session: SessionDep) -> LabelOut:
    label = Label(tenant_id=principal.tenant_id, name=body.name, colour=body.colour)
    session.add(label)
    await labels.flush_unique(session, body.name)
    out = LabelOut.model_validate(labels.label_json(label))
    await session.commit()
    return out


@labels_router.patch("/{label_id}", response_model=LabelOut, dependencies=[perm("labels:write")])
async def update_label(
    label_id: uuid.UUID, body: LabelUpdate, principal: PrincipalDep, session: SessionDep
) -> LabelOut:
    label = await get_owned(session, Label, label_id, principal.tenant_id)
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(label, key, value)
    await labels.flush_unique(session, label.name)
    out = LabelOut.model_validate(labels.label_json(label))
    await session.commit()
    return out


@labels_router.delete(
    "/{label_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[perm("labels:write")]
)
async def delete_label(label_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    """Removes it from every conversation too."""
    await session.delete(await get_owned(session, Label, label_id, principal.tenant_id))
    await session.commit()


@router.put(
    "/{conversation_id}/labels/{label_id}",
    response_model=ConversationLabelsOut,
    dependencies=[SEND],
)
async def add_conversation_label(
    conversation_id: uuid.UUID, label_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> ConversationLabelsOut:
    return await _set_label(session, principal, conversation_id, label_id, present=True)


@router.delete(
    "/{conversation_id}/labels/{label_id}",
    response_model=ConversationLabelsOut,
    dependencies=[SEND],
)
async def remove_conversation_label(
    conversation_id: uuid.UUID, label_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> ConversationLabelsOut:
    return await _set_label(session, principal, conversation_id, label_id, present=False)


async def _set_label(
    session: SessionDep,
    principal: PrincipalDep,
    conversation_id: uuid.UUID,
    label_id: uuid.UUID,
    present: bool,
) -> ConversationLabelsOut:
    conversation, _ = await visible_conversation(session, principal, conversation_id)
    label_ids = await labels.set_label(session, conversation, label_id, present)
    await session.commit()
    return ConversationLabelsOut(conversation_id=conversation_id, label_ids=label_ids)


# ---- notes and typing ------------------------------------------------------------------------


@router.post(
    "/{conversation_id}/notes",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[SEND],
)
async def add_note(
    conversation_id: uuid.UUID,
    body: NoteIn,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> MessageOut:
    """An internal note in the thread (``direction`` ``note``), never sent to the customer;
    each agent in ``mention_agent_ids`` gets a live ``note.mention`` event (422
    ``mention_unknown_agent`` if one is not an active agent of the tenant)."""
    conversation, contact = await visible_conversation(session, principal, conversation_id)
    note = await notes.add_note(
        session,
        principal,
        conversation,
        contact,
        body.body,
        body.mention_agent_ids,
        utc_now(clock),
    )
    out = MessageOut.model_validate(inbox.message_json(note))
    await session.commit()
    return out


@mentionable_router.get("", response_model=list[MentionableOut], dependencies=[SEND])
async def mentionable_agents(principal: PrincipalDep, session: SessionDep) -> list[MentionableOut]:
    """The tenant's active agents a note may mention (id and name only)."""
    rows = await session.execute(
        select(Agent.id, Agent.name)
        .where(Agent.tenant_id == principal.tenant_id, Agent.status != "disabled")
        .order_by(Agent.name)
    )
    return [MentionableOut(id=agent_id, name=name) for agent_id, name in rows]


@router.post("/{conversation_id}/typing", response_model=TypingOut, dependencies=[SEND])
async def typing(
    conversation_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    whatsapp: WhatsAppDep,
) -> TypingOut:
    """Call while the agent types: shows Meta's typing indicator to the customer, at most
    once per 20 s per conversation and only inside the service window; ``reason`` says why
    not. Meta also marks the last inbound message read."""
    conversation, _ = await visible_conversation(session, principal, conversation_id)
    sender = await session.get(Sender, conversation.sender_id)
    assert sender is not None
    decision = await typing_indicator.claim_typing(session, conversation, sender, utc_now(clock))
    await session.commit()  # no transaction stays open while Meta is called
    if decision.wamid is None:
        return TypingOut(indicated=False, reason=decision.reason)
    refused = await typing_indicator.send_typing(whatsapp, settings, sender, decision.wamid)
    return TypingOut(indicated=refused is None, reason=refused)
