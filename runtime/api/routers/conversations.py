"""The inbox: conversations, their messages, sending, reading, assigning, resolving."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from runtime import outbound as send_queue
from runtime.api.deps import (
    ClockDep,
    OutboundDep,
    Principal,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    WhatsAppDep,
    perm,
)
from runtime.api.pagination import Page, paginate, paginate_by_position
from runtime.api.schemas.inbox import (
    ConversationOut,
    ConversationStart,
    ConversationUpdate,
    MessageOut,
    SendIn,
)
from runtime.api.schemas.sender_alerts import SenderSwitchOut
from runtime.clock import utc_now
from runtime.domain import inbox, media, outbound, sender_failover
from runtime.domain.errors import Conflict, Forbidden, NotFound
from runtime.domain.lookup import get_owned
from runtime.domain.senders import allowed_sender_ids, route_sender
from runtime.domain.visibility import contacts_visible, conversation_audience, conversations_visible
from runtime.models import Agent, Contact, Conversation, Message, Sender, Team, TeamMember

router = APIRouter(prefix="/api/conversations", tags=["inbox"])

READ = perm("inbox:read:all", "inbox:read:assigned")
View = Literal["mine", "unassigned", "team", "all"]


async def _visible(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> tuple[Conversation, Contact]:
    row = (
        await session.execute(
            select(Conversation, Contact)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == conversation_id, conversations_visible(principal))
        )
    ).one_or_none()
    if row is None:
        raise NotFound("Conversation")
    return row[0], row[1]


async def _out(
    session: AsyncSession, conversations: list[Conversation], now: datetime
) -> list[ConversationOut]:
    contacts = {
        c.id: c
        for c in (
            await session.execute(
                select(Contact).where(Contact.id.in_({c.contact_id for c in conversations}))
            )
        ).scalars()
    }
    return [
        ConversationOut.model_validate(inbox.conversation_json(c, contacts[c.contact_id], now))
        for c in conversations
    ]


@router.get("", response_model=Page[ConversationOut], dependencies=[READ])
async def list_conversations(
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    view: View = "all",
    status_: Annotated[
        Literal["open", "pending", "resolved", "snoozed"] | None, Query(alias="status")
    ] = None,
    team_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ConversationOut]:
    """Newest activity first. ``view``: mine, unassigned, team (my teams, or ``team_id``), all."""
    stmt = select(Conversation).where(conversations_visible(principal))
    if view == "mine":
        stmt = stmt.where(Conversation.assigned_agent_id == principal.agent_id)
    elif view == "unassigned":
        stmt = stmt.where(Conversation.assigned_agent_id.is_(None))
    elif view == "team":
        my_teams = select(TeamMember.team_id).where(TeamMember.agent_id == principal.agent_id)
        stmt = stmt.where(Conversation.assigned_team_id.in_(my_teams))
    if team_id:
        stmt = stmt.where(Conversation.assigned_team_id == team_id)
    if status_:
        stmt = stmt.where(Conversation.status == status_)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.join(Contact, Contact.id == Conversation.contact_id).where(
            Contact.name.ilike(like) | Contact.phone.like(like)
        )
    rows, next_cursor = await paginate(
        session, stmt, Conversation, cursor, limit, "last_message_at"
    )
    return Page(items=await _out(session, rows, utc_now(clock)), next_cursor=next_cursor)


async def _refuse_if_hidden(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> None:
    """Never hand out a conversation the principal may not read (e.g. a teammate's)."""
    if (
        await session.scalar(
            select(Conversation.id).where(
                Conversation.id == conversation_id, conversations_visible(principal)
            )
        )
        is None
    ):
        raise Conflict(
            "conversation_assigned_elsewhere",
            "This contact already has a conversation on that number, assigned to another agent.",
        )


@router.post("", response_model=ConversationOut, dependencies=[perm("inbox:send")])
async def start_conversation(
    body: ConversationStart, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> ConversationOut:
    """Open (or find) the conversation with a contact; the first message must be a template."""
    contact = await session.scalar(
        select(Contact).where(Contact.id == body.contact_id, contacts_visible(principal))
    )
    if contact is None:
        raise NotFound("Contact")
    now = utc_now(clock)
    if body.sender_id is None:
        sender = (
            await route_sender(session, principal.tenant_id, principal.agent_id, contact.id, now)
        ).sender
    else:
        sender = await get_owned(session, Sender, body.sender_id, principal.tenant_id)
        if not principal.can("inbox:read:all") and sender.id not in await allowed_sender_ids(
            session, principal.agent_id
        ):
            raise Forbidden("sender_not_allocated", "This sender is not allocated to you.")
    sender_id, contact_id = sender.id, contact.id
    try:
        conversation = await inbox.conversation_for(
            session, principal.tenant_id, sender_id, contact, now
        )
        if conversation.assigned_agent_id is None and not principal.can("inbox:read:all"):
            conversation.assigned_agent_id = principal.agent_id  # so the starter can see it
        await session.flush()
        await _refuse_if_hidden(session, principal, conversation.id)
        await inbox.emit_conversation(session, conversation, contact, now)
        await session.commit()
    except IntegrityError:  # started at the same moment by someone else: use theirs
        await session.rollback()
        conversation = (
            await session.execute(
                select(Conversation).where(
                    Conversation.sender_id == sender_id, Conversation.contact_id == contact_id
                )
            )
        ).scalar_one()
        await _refuse_if_hidden(session, principal, conversation.id)
    return (await _out(session, [conversation], now))[0]


@router.get("/{conversation_id}", response_model=ConversationOut, dependencies=[READ])
async def get_conversation(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> ConversationOut:
    conversation, _ = await _visible(session, principal, conversation_id)
    return (await _out(session, [conversation], utc_now(clock)))[0]


@router.get(
    "/{conversation_id}/sender-switches",
    response_model=list[SenderSwitchOut],
    dependencies=[READ],
)
async def list_sender_switches(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> list[SenderSwitchOut]:
    """New outreach moved off an unhealthy sender, away from or into this conversation
    (newest first, at most 100)."""
    conversation, _ = await _visible(session, principal, conversation_id)
    return [
        SenderSwitchOut.model_validate(sender_failover.switch_json(s))
        for s in await sender_failover.switches_of(session, conversation)
    ]


@router.get("/{conversation_id}/messages", response_model=Page[MessageOut], dependencies=[READ])
async def list_messages(
    conversation_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[MessageOut]:
    """Newest first (by ``conversation_seq``); follow ``next_cursor`` for older messages."""
    conversation, _ = await _visible(session, principal, conversation_id)
    stmt = select(Message).where(Message.conversation_id == conversation.id)
    rows, next_cursor = await paginate_by_position(
        session, stmt, Message.conversation_seq, cursor, limit
    )
    queued = await send_queue.queue_rows(session, rows, utc_now(clock))
    quotes = await inbox.quotes_of(session, conversation, rows)
    files = await media.files_of(session, rows)
    return Page(
        items=[
            MessageOut.model_validate(
                inbox.message_json(m, queued.get(m.id), quotes, files.get(m.id))
            )
            for m in rows
        ],
        next_cursor=next_cursor,
    )


@router.post(
    "/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[perm("inbox:send")],
)
async def send_message(
    conversation_id: uuid.UUID,
    body: SendIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    sending: OutboundDep,
) -> MessageOut:
    """Queue text, interactive or a reaction (window open) or an approved template
    (docs/rich-messages.md); answers at once with the message
    ``queued``. Its status then moves by ``message.status`` events: sent → delivered → read,
    or ``failed`` with Meta's error code and text, or ``unknown`` when Meta's answer was lost.
    A template outside the open window from an unhealthy sender goes from the next healthy
    one (the message's ``conversation_id`` then names that number's conversation)."""
    conversation, contact = await _visible(session, principal, conversation_id)
    sender = await session.get(Sender, conversation.sender_id)
    assert sender is not None
    outgoing = _outgoing(body)
    message, queued = await send_queue.submit(
        session,
        settings,
        conversation,
        contact,
        sender,
        principal.agent_id,
        outgoing,
        utc_now(clock),
    )
    if message.conversation_id != conversation.id:  # failed over to another number
        await _refuse_if_hidden(session, principal, message.conversation_id)
    await session.commit()
    sending.wake()
    return MessageOut.model_validate(inbox.message_json(message, queued))


def _outgoing(body: SendIn) -> outbound.Outgoing:
    if body.type == "text":
        assert body.text is not None
        return outbound.TextOut(body.text, body.reply_to_message_id)
    if body.type == "interactive":
        assert body.interactive is not None
        spec = body.interactive.model_dump(exclude_none=True)
        return outbound.InteractiveOut(spec, body.reply_to_message_id)
    if body.type == "reaction":
        assert body.reaction is not None
        return outbound.ReactionOut(body.reaction.message_id, body.reaction.emoji)
    assert body.template is not None
    parameters = {str(k): v for k, v in body.template.parameters.items()}
    return outbound.TemplateOut(body.template.name, body.template.language, parameters)


@router.post(
    "/{conversation_id}/messages/{message_id}/resend",
    response_model=MessageOut,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[perm("inbox:send")],
)
async def resend_message(
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    sending: OutboundDep,
) -> MessageOut:
    """Deliberately send a ``failed`` or ``unknown`` message again, as a new message (its
    ``resend_of_id`` names the original); any other status is refused with 409."""
    conversation, contact = await _visible(session, principal, conversation_id)
    sender = await session.get(Sender, conversation.sender_id)
    assert sender is not None
    message, queued = await send_queue.resend(
        session,
        settings,
        conversation,
        contact,
        sender,
        principal.agent_id,
        message_id,
        utc_now(clock),
    )
    if message.conversation_id != conversation.id:  # failed over to another number
        await _refuse_if_hidden(session, principal, message.conversation_id)
    await session.commit()
    sending.wake()
    return MessageOut.model_validate(inbox.message_json(message, queued))


@router.post("/{conversation_id}/read", response_model=ConversationOut, dependencies=[READ])
async def mark_read(
    conversation_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    whatsapp: WhatsAppDep,
) -> ConversationOut:
    """Zero the unread count and tell Meta (blue ticks for the customer)."""
    conversation, contact = await _visible(session, principal, conversation_id)
    now = utc_now(clock)
    if conversation.unread_count:
        last = await session.scalar(
            select(Message.wamid)
            .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
            .order_by(Message.conversation_seq.desc())
            .limit(1)
        )
        sender = await session.get(Sender, conversation.sender_id)
        conversation.unread_count = 0
        await inbox.emit_conversation(session, conversation, contact, now)
        await session.commit()  # no transaction stays open while Meta is called
        if last and sender is not None and sender.status == "active":
            await outbound.mark_read(whatsapp, settings, sender, last)
    return (await _out(session, [conversation], now))[0]


@router.patch(
    "/{conversation_id}",
    response_model=ConversationOut,
    dependencies=[perm("inbox:assign", "inbox:send")],
)
async def update_conversation(
    conversation_id: uuid.UUID,
    body: ConversationUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> ConversationOut:
    """Resolve/snooze/reopen (anyone who can send here); (re)assign needs ``inbox:assign``."""
    conversation, contact = await _visible(session, principal, conversation_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    assigning = {"assigned_agent_id", "assigned_team_id"} & set(changes)
    if assigning and not principal.can("inbox:assign"):
        raise Forbidden(
            "permission_denied",
            "Assigning conversations needs inbox:assign.",
            {"required_any_of": ["inbox:assign"]},
        )
    audience_before = conversation_audience(conversation)
    if "assigned_agent_id" in changes and body.assigned_agent_id is not None:
        await get_owned(session, Agent, body.assigned_agent_id, principal.tenant_id)
    if "assigned_team_id" in changes and body.assigned_team_id is not None:
        await get_owned(session, Team, body.assigned_team_id, principal.tenant_id)
    for key in ("assigned_agent_id", "assigned_team_id"):
        if key in changes:
            setattr(conversation, key, changes[key])
    if body.status is not None:
        conversation.status = body.status
        conversation.snoozed_until = body.snoozed_until if body.status == "snoozed" else None
    now = utc_now(clock)
    await inbox.emit_conversation(session, conversation, contact, now)
    await inbox.emit_hidden(session, conversation, audience_before)
    await session.commit()
    return (await _out(session, [conversation], now))[0]
