"""Meta webhook notifications → contacts, conversations, messages, statuses, senders and
templates. Idempotent: a redelivered message (same ``wamid``) changes nothing, and
statuses only move forward. Unknown fields and message types are kept, never refused."""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc
from runtime.domain import assignment, inbox
from runtime.domain.events import record_event
from runtime.domain.phones import InvalidPhone, normalize_phone
from runtime.domain.visibility import sender_audience
from runtime.models import Contact, Conversation, Message, Sender, Template, Tenant

KNOWN_TYPES = {
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
}
log = logging.getLogger(__name__)
_QUALITY_BY_EVENT = {"FLAGGED": "RED", "UNFLAGGED": "GREEN"}

Json = dict[str, Any]


# Bounds on what one inbound message may store (and later send to every agent's socket):
# Meta's messages are a few levels deep and a few KB; anything past these is refused.
MAX_PAYLOAD_DEPTH = 32
MAX_PAYLOAD_BYTES = 64 * 1024


@dataclass
class IngestResult:
    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    ignored: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests deeper than ``limit`` (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def payload_problem(payload: Json) -> str | None:
    """Why ``payload`` may not be stored (too deep, too big), or None."""
    if _depth_exceeds(payload, MAX_PAYLOAD_DEPTH):
        return "payload_too_deep"
    if len(json.dumps(payload, ensure_ascii=False).encode()) > MAX_PAYLOAD_BYTES:
        return "payload_too_large"
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _moment(raw: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (TypeError, ValueError, OverflowError):
        return fallback


def message_text(message: Json) -> str:
    """What an agent reads in the list: the text, a caption, or a label (NULs dropped)."""
    return _label(message).replace("\x00", "")


def _label(message: Json) -> str:
    kind = message.get("type")
    content = _dict(message.get(kind)) if isinstance(kind, str) else {}
    if kind == "text":
        return str(content.get("body", ""))
    if kind == "button":
        return str(content.get("text", ""))
    if kind == "interactive":
        reply = _dict(content.get("button_reply")) or _dict(content.get("list_reply"))
        return str(reply.get("title", ""))
    if kind == "reaction":
        return str(content.get("emoji", ""))
    return str(content.get("caption", ""))


async def _contact(
    session: AsyncSession, sender: Sender, wa_id: str, name: str, region: str
) -> Contact:
    try:
        phone = normalize_phone("+" + wa_id.lstrip("+"), region)
    except InvalidPhone:
        phone = "+" + re.sub(r"\D", "", wa_id)[:19]
    stmt = select(Contact).where(Contact.tenant_id == sender.tenant_id, Contact.phone == phone)
    if (found := await session.scalar(stmt)) is not None:
        if name and not found.name:
            found.name = name[:200]
        return found
    contact = Contact(id=uuid.uuid4(), tenant_id=sender.tenant_id, phone=phone, name=name[:200])
    session.add(contact)  # a concurrent twin fails the flush; the receiver retries the batch
    return contact


async def _inbound(
    session: AsyncSession,
    sender: Sender,
    region: str,
    message: Json,
    names: dict[str, str],
    now: datetime,
    result: IngestResult,
) -> None:
    wamid, wa_id = message.get("id"), message.get("from")
    if not isinstance(wamid, str) or not isinstance(wa_id, str) or not wamid or not wa_id:
        result.ignored += 1
        return
    if (problem := payload_problem(message)) is not None:
        log.warning("webhook message %s refused: %s", wamid[:200], problem)
        result.errors.append({"id": wamid[:200], "code": problem})
        return
    if await session.scalar(select(Message.id).where(Message.wamid == wamid)):
        result.duplicates += 1
        return
    name = names.get(wa_id, "").replace("\x00", "")
    contact = await _contact(session, sender, wa_id, name, region)
    at = _moment(message.get("timestamp"), now)
    await assignment.route_inbound(session, contact, sender.id)
    conversation = await inbox.conversation_for(session, sender.tenant_id, sender.id, contact, at)
    kind = message.get("type")
    stored = Message(
        tenant_id=sender.tenant_id,
        conversation_id=conversation.id,
        wamid=wamid,
        direction="inbound",
        type=kind if kind in KNOWN_TYPES else "unsupported",
        body=message_text(message)[:4096],
        payload=message,
        status="received",
        created_at=at,
    )
    session.add(stored)
    if conversation.last_inbound_at is None or as_utc(conversation.last_inbound_at) < at:
        conversation.last_inbound_at = at
    if conversation.last_message_at is None or as_utc(conversation.last_message_at) <= at:
        conversation.last_message_at = at
        conversation.last_message_preview = inbox.preview(stored)
    conversation.unread_count += 1
    if conversation.status in ("resolved", "snoozed"):
        conversation.status, conversation.snoozed_until = "open", None
    await session.flush()
    await inbox.emit_message(session, conversation, stored, "message.created")
    await inbox.emit_conversation(session, conversation, contact, now)
    result.messages += 1


async def _status(
    session: AsyncSession, sender: Sender, status: Json, result: IngestResult
) -> None:
    wamid, new = status.get("id"), status.get("status")
    message = None
    if isinstance(wamid, str) and wamid:
        message = await session.scalar(select(Message).where(Message.wamid == wamid))
    callback = status.get("biz_opaque_callback_data")
    if message is None and isinstance(callback, str):
        try:  # the send's response (with the wamid) may not be stored yet
            message = await session.get(Message, uuid.UUID(callback))
        except ValueError:
            message = None
    if (
        message is None
        or message.tenant_id != sender.tenant_id
        or message.direction != "outbound"
        or not isinstance(new, str)
        or not inbox.status_advances(message.status, new)
    ):
        result.ignored += 1
        return
    message.status = new
    message.wamid = message.wamid or wamid
    message.status_updated_at = _moment(status.get("timestamp"), as_utc(message.created_at))
    error = _dict(_list(status.get("errors"))[0]) if _list(status.get("errors")) else {}
    if error:
        message.error_code = error.get("code") if isinstance(error.get("code"), int) else None
        details = _dict(error.get("error_data")).get("details")
        message.error_message = str(details or error.get("title") or error.get("message"))[:500]
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None
    await inbox.emit_message(session, conversation, message, "message.status")
    result.statuses += 1


async def _messages_change(
    session: AsyncSession, value: Json, now: datetime, result: IngestResult
) -> None:
    phone_number_id = _dict(value.get("metadata")).get("phone_number_id")
    row = (
        await session.execute(
            select(Sender, Tenant.default_region)
            .join(Tenant, Tenant.id == Sender.tenant_id)
            .where(Sender.phone_number_id == str(phone_number_id))
        )
    ).one_or_none()
    if row is None:
        result.ignored += 1
        return
    sender, region = row
    names = {
        str(c.get("wa_id")): str(_dict(c.get("profile")).get("name", ""))
        for c in map(_dict, _list(value.get("contacts")))
    }
    for message in map(_dict, _list(value.get("messages"))):
        await _inbound(session, sender, region or "ID", message, names, now, result)
    for status in map(_dict, _list(value.get("statuses"))):
        await _status(session, sender, status, result)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


async def _quality_change(
    session: AsyncSession, waba_id: str, value: Json, result: IngestResult
) -> None:
    display = _digits(str(value.get("display_phone_number", "")))
    senders = (await session.execute(select(Sender).where(Sender.waba_id == waba_id))).scalars()
    matched = [s for s in senders if display and _digits(s.display_number) == display]
    for sender in matched:
        if isinstance(value.get("current_limit"), str):
            sender.messaging_limit_tier = value["current_limit"][:20]
        sender.quality_rating = _QUALITY_BY_EVENT.get(
            str(value.get("event")), sender.quality_rating
        )
        await record_event(
            session,
            sender.tenant_id,
            "sender.updated",
            {
                "sender_id": str(sender.id),
                "quality_rating": sender.quality_rating,
                "messaging_limit_tier": sender.messaging_limit_tier,
                "event": event if isinstance(event := value.get("event"), str) else None,
            },
            sender_audience(),
        )
    result.statuses += len(matched)
    result.ignored += 0 if matched else 1


async def _template_change(
    session: AsyncSession, waba_id: str, value: Json, result: IngestResult
) -> None:
    templates = list(
        (
            await session.execute(
                select(Template).where(
                    Template.waba_id == waba_id,
                    Template.meta_id == str(value.get("message_template_id")),
                )
            )
        ).scalars()
    )
    for template in templates:
        template.status = str(value.get("event", template.status))[:20]
    result.statuses += len(templates)
    result.ignored += 0 if templates else 1


async def ingest(session: AsyncSession, payload: Json, now: datetime) -> IngestResult:
    """Apply one webhook notification (any number of entries and changes)."""
    result = IngestResult()
    for entry in map(_dict, _list(payload.get("entry"))):
        waba_id = str(entry.get("id", ""))
        for change in map(_dict, _list(entry.get("changes"))):
            field, value = change.get("field"), _dict(change.get("value"))
            if field == "messages":
                await _messages_change(session, value, now, result)
            elif field == "phone_number_quality_update":
                await _quality_change(session, waba_id, value, result)
            elif field == "message_template_status_update":
                await _template_change(session, waba_id, value, result)
            else:
                result.ignored += 1
    return result
