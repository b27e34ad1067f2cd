"""Sending to a customer: Meta's rules are checked before anything reaches Meta.

A free-form message (text, interactive buttons or list, a reaction; text and interactive
may reply to a message of the conversation) needs the 24-hour customer-service window open;
otherwise (and for the first contact) only an APPROVED template goes, with exactly its
parameters (runtime/domain/template_params.py), and
only if the tenant's consent and eligibility rules allow it (runtime/domain/eligibility:
refused, or deferred — e.g. quiet hours — until a later moment). The message is stored
``queued``; runtime/outbound hands it to Meta (Meta's answer gives it a
``wamid``, or turns it ``failed`` with Meta's error, or ``unknown`` when the answer was lost)
and status webhooks move it to sent/delivered/read.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox, media, reactions
from runtime.domain.eligibility import check_outreach, record_outreach
from runtime.domain.errors import Conflict, Invalid
from runtime.domain.interactive import build_interactive
from runtime.domain.media import MediaOut
from runtime.domain.sender_health import session_blocker
from runtime.domain.sender_tokens import resolve_token
from runtime.domain.templates import approved_template, render
from runtime.models import Contact, Conversation, MediaFile, Message, Sender
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import WhatsAppError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextOut:
    text: str
    reply_to_id: uuid.UUID | None = None  # the message of this conversation it answers


@dataclass(frozen=True)
class TemplateOut:
    name: str
    language: str
    parameters: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class InteractiveOut:
    """Reply buttons or a list (runtime/domain/interactive.py has the spec and limits)."""

    spec: dict[str, Any]
    reply_to_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ReactionOut:
    """A reaction to a message of the conversation; an empty emoji removes ours."""

    message_id: uuid.UUID
    emoji: str


Outgoing = TextOut | TemplateOut | InteractiveOut | ReactionOut | MediaOut
REACTION_MAX = 10  # one emoji, possibly several code points (skin tone, ZWJ sequences)


@dataclass(frozen=True)
class _Content:
    """What a send stores and asks Meta for."""

    body: str
    payload: dict[str, Any]
    call: dict[str, Any]  # arguments of the client's send method, minus token and callback
    category: str | None = None  # a template's: outreach (eligibility) applies
    not_before: datetime | None = None


@dataclass
class PreparedSend:
    message: Message
    call: dict[str, Any]  # arguments of the client's send method, minus token and callback
    business_initiated: bool  # no open window: counts against the portfolio's daily budget
    not_before: datetime | None = None  # deferred by an eligibility rule (quiet hours)


def ensure_sendable(sender: Sender, settings: Settings) -> None:
    """Refuse before anything is stored: the number must be in service, its token readable
    and not refused by Meta."""
    if (blocker := session_blocker(sender)) is not None:
        code = "sender_token_invalid" if blocker == "token_invalid" else "sender_unavailable"
        raise Conflict(code, f"Sender {sender.display_number} is {blocker}.", {"reason": blocker})
    resolve_token(sender, settings)


async def prepare(
    session: AsyncSession,
    conversation: Conversation,
    contact: Contact,
    sender: Sender,
    agent_id: uuid.UUID,
    outgoing: Outgoing,
    now: datetime,
    resend_of_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> PreparedSend:
    """Check the rules and store the message as ``queued`` (the caller queues it and
    commits); ``resend_of_id``: the message this one deliberately sends again;
    ``idempotency_key``: the message's unique key, if its sender gives one."""
    if contact.phone is None:
        raise Conflict(
            "contact_has_no_phone",
            "This customer is known only by their WhatsApp user id; replying needs their "
            "phone number (add it to the contact).",
        )
    if isinstance(outgoing, TemplateOut):
        content = await _template(session, conversation, contact, sender, outgoing, now)
    else:
        require_window(conversation, now)
        content = await _free_form(session, conversation, outgoing)
    message = Message(
        id=uuid.uuid4(),
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        conversation_seq=await inbox.next_seq(session, conversation),
        direction="outbound",
        type=content.payload["type"],
        body=content.body,
        payload=content.payload,
        status="queued",
        sent_by_agent_id=agent_id,
        resend_of_id=resend_of_id,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    session.add(message)
    if content.category is not None:
        record_outreach(session, contact, message, content.category)
    if not isinstance(outgoing, ReactionOut):  # a reaction shows on its message, not in the list
        inbox.note_outbound(conversation, message, now)
    await session.flush()
    file = None
    if isinstance(outgoing, MediaOut):
        file = media.outbound_file(outgoing, message, sender.id, now)
        session.add(file)
    await inbox.emit_message(session, conversation, message, "message.created", file)
    await inbox.emit_conversation(session, conversation, contact, now)
    return PreparedSend(
        message, content.call, not inbox.window_open(conversation, now), content.not_before
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def require_window(conversation: Conversation, now: datetime) -> None:
    """Free-form messages (text, media, interactive, reactions) need the customer-service
    window open (409 ``template_required``)."""
    if not inbox.window_open(conversation, now):
        raise Conflict(
            "template_required",
            "The 24-hour customer service window is closed (or was never opened): "
            "only an approved template can be sent.",
            {"window_expires_at": _iso(inbox.window_expires_at(conversation))},
        )


async def _template(
    session: AsyncSession,
    conversation: Conversation,
    contact: Contact,
    sender: Sender,
    outgoing: TemplateOut,
    now: datetime,
) -> _Content:
    template = await approved_template(session, sender, outgoing.name, outgoing.language)
    eligibility = await check_outreach(
        session, conversation.tenant_id, contact, template.category, now
    )
    not_before = eligibility.deferral()
    rendered = render(template, outgoing.parameters)
    meta = {
        "name": template.name,
        "language": template.language,
        "components": rendered.components,
    }
    return _Content(
        body=rendered.text,
        # ``parameters``: as the agent gave them, to send the template again
        payload={"type": "template", "template": meta, "parameters": outgoing.parameters},
        call={"kind": "template", **meta},
        category=template.category,
        not_before=not_before,
    )


async def _free_form(
    session: AsyncSession, conversation: Conversation, outgoing: Outgoing
) -> _Content:
    """Text, media, interactive or a reaction: only inside the window, no outreach rules."""
    if isinstance(outgoing, ReactionOut):
        return await _reaction(session, conversation, outgoing)
    if isinstance(outgoing, MediaOut):
        return _Content(outgoing.caption or "", media.payload_of(outgoing), media.call_of(outgoing))
    assert isinstance(outgoing, TextOut | InteractiveOut)
    if isinstance(outgoing, TextOut):
        body, kind = outgoing.text, "text"
        content: dict[str, Any] = {"body": outgoing.text}
        call: dict[str, Any] = {"kind": "text", "body": outgoing.text}
        extra: dict[str, Any] = {}
    else:
        content, body = build_interactive(outgoing.spec)
        kind, extra = "interactive", {"spec": outgoing.spec}
        call = {"kind": "interactive", "content": content}
    payload: dict[str, Any] = {"type": kind, kind: content, **extra}
    if outgoing.reply_to_id is not None:
        quoted = await _addressed(
            session, conversation, outgoing.reply_to_id, "reply_target_unknown"
        )
        payload["context"] = {"message_id": quoted.wamid}
        payload["reply_to_id"] = str(quoted.id)
        call["reply_to"] = quoted.wamid
    return _Content(body, payload, call)


async def _reaction(
    session: AsyncSession, conversation: Conversation, outgoing: ReactionOut
) -> _Content:
    """The reaction goes to Meta as a message; the reacted-to message carries it at once
    (``reactions.business``; an empty emoji removes it) and its update is told."""
    if len(outgoing.emoji) > REACTION_MAX:
        raise Invalid("reaction_invalid", "A reaction is one emoji.", {"field": "reaction.emoji"})
    target = await _addressed(session, conversation, outgoing.message_id, "reaction_target_unknown")
    target.reactions = reactions.with_ours(target.reactions, outgoing.emoji)
    await inbox.emit_message(session, conversation, target, "message.updated")
    content = {"message_id": target.wamid, "emoji": outgoing.emoji}
    return _Content(
        outgoing.emoji,
        {"type": "reaction", "reaction": content, "reaction_to_id": str(target.id)},
        {"kind": "reaction", "content": content},
    )


async def _addressed(
    session: AsyncSession, conversation: Conversation, message_id: uuid.UUID, code: str
) -> Message:
    """A message of ``conversation`` that Meta knows (it has a wamid), to reply or react to;
    a message of another conversation (or tenant) is as unknown as a made-up id."""
    message = await session.scalar(
        select(Message).where(Message.id == message_id, Message.conversation_id == conversation.id)
    )
    if message is None:
        raise Invalid(
            code, "No such message in this conversation.", {"message_id": str(message_id)}
        )
    if message.wamid is None:
        raise Conflict(
            "message_not_sent_yet",
            "That message has not reached WhatsApp yet; reply or react once it is sent.",
            {"message_id": str(message_id)},
        )
    return message


def outgoing_of(message: Message, file: MediaFile | None = None) -> Outgoing:
    """What an outbound message asked for, to send it again (rules are checked anew);
    ``file``: a media message's file."""
    if file is not None:
        return media.outgoing_of(file, message.body or None)
    payload = message.payload
    reply_to = uuid.UUID(payload["reply_to_id"]) if payload.get("reply_to_id") else None
    if message.type == "text":
        return TextOut(message.body, reply_to)
    if message.type == "interactive":
        return InteractiveOut(payload["spec"], reply_to)
    if message.type == "reaction":
        return ReactionOut(uuid.UUID(payload["reaction_to_id"]), payload["reaction"]["emoji"])
    template = payload["template"]
    parameters = payload.get("parameters") or {  # stored before rich templates: texts only
        component["type"]: [parameter["text"] for parameter in component["parameters"]]
        for component in template.get("components", [])
    }
    return TemplateOut(template["name"], template["language"], parameters)


async def mark_read(client: CloudAPIClient, settings: Settings, sender: Sender, wamid: str) -> None:
    """Best effort: a failed read receipt is logged, never shown to the agent as an error."""
    try:
        await client.mark_read(sender.phone_number_id, resolve_token(sender, settings), wamid)
    except (WhatsAppError, httpx.HTTPError) as exc:
        log.warning("mark-as-read failed for sender %s: %s", sender.phone_number_id, exc)
