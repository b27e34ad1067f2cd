"""Sending to a customer: Meta's rules are checked before anything reaches Meta.

A free-form text needs the 24-hour customer-service window open; otherwise (and for the
first contact) only an APPROVED template goes, with exactly its placeholders filled, and
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
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain import inbox
from runtime.domain.eligibility import check_outreach, record_outreach
from runtime.domain.errors import Conflict
from runtime.domain.sender_health import session_blocker
from runtime.domain.sender_tokens import resolve_token
from runtime.domain.templates import approved_template, render
from runtime.models import Contact, Conversation, Message, Sender
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import WhatsAppError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextOut:
    text: str


@dataclass(frozen=True)
class TemplateOut:
    name: str
    language: str
    parameters: dict[str, list[str]] = field(default_factory=dict)


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
    outgoing: TextOut | TemplateOut,
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
    category: str | None
    not_before = None
    if isinstance(outgoing, TextOut):
        if not inbox.window_open(conversation, now):
            raise Conflict(
                "template_required",
                "The 24-hour customer service window is closed (or was never opened): "
                "only an approved template can be sent.",
                {
                    "window_expires_at": inbox.conversation_json(conversation, contact, now)[
                        "window_expires_at"
                    ]
                },
            )
        body, payload = outgoing.text, {"type": "text", "text": {"body": outgoing.text}}
        call: dict[str, Any] = {"kind": "text", "body": outgoing.text}
        category = None  # a reply in the open window is not outreach
    else:
        template = await approved_template(session, sender, outgoing.name, outgoing.language)
        category = template.category
        eligibility = await check_outreach(session, conversation.tenant_id, contact, category, now)
        not_before = eligibility.deferral()
        rendered = render(template, outgoing.parameters)
        body = rendered.text
        payload = {
            "type": "template",
            "template": {
                "name": template.name,
                "language": template.language,
                "components": rendered.components,
            },
        }
        call = {
            "kind": "template",
            "name": template.name,
            "language": template.language,
            "components": rendered.components,
        }
    message = Message(
        id=uuid.uuid4(),
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        conversation_seq=await inbox.next_seq(session, conversation),
        direction="outbound",
        type=payload["type"],
        body=body,
        payload=payload,
        status="queued",
        sent_by_agent_id=agent_id,
        resend_of_id=resend_of_id,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    session.add(message)
    if category is not None:
        record_outreach(session, contact, message, category)
    inbox.note_outbound(conversation, message, now)
    await session.flush()
    await inbox.emit_message(session, conversation, message, "message.created")
    await inbox.emit_conversation(session, conversation, contact, now)
    return PreparedSend(message, call, not inbox.window_open(conversation, now), not_before)


def outgoing_of(message: Message) -> TextOut | TemplateOut:
    """What an outbound message asked for, to send it again (rules are checked anew)."""
    if message.type == "text":
        return TextOut(message.body)
    template = message.payload["template"]
    parameters = {
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
