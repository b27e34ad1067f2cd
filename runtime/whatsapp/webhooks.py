"""Builders for Meta-exact WhatsApp webhook payloads (brief, sections 3-5).

Every builder returns the full ``{"object": "whatsapp_business_account", "entry": [...]}``
notification. Per Meta: ``messages[].timestamp`` and ``statuses[].timestamp`` are strings of
Unix seconds, while ``entry[].time`` and ``message_template_id`` are integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from runtime.whatsapp.errors import webhook_error

Payload = dict[str, Any]
StatusName = Literal["sent", "delivered", "read", "failed", "played"]
PricingType = Literal["regular", "free_customer_service", "free_entry_point"]


@dataclass(frozen=True, slots=True)
class BusinessNumber:
    """The business phone number a notification is about."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str

    def metadata(self) -> Payload:
        return {
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        }


@dataclass(frozen=True, slots=True)
class Customer:
    """A WhatsApp user: ``wa_id`` (the phone; None for a user known by username only),
    profile name, and the business-scoped user id (BSUID) Meta may add."""

    wa_id: str | None
    name: str
    user_id: str | None = None

    def sender_fields(self) -> Payload:
        """``from`` / ``from_user_id`` of a message this customer sent."""
        fields = {"from": self.wa_id, "from_user_id": self.user_id}
        return {key: value for key, value in fields.items() if value is not None}

    def card(self) -> Payload:
        """The ``contacts[]`` entry naming this customer."""
        ids = {"wa_id": self.wa_id, "user_id": self.user_id}
        return {"profile": {"name": self.name}, **{k: v for k, v in ids.items() if v is not None}}


def notification(waba_id: str, field: str, value: Payload, *, time: int | None = None) -> Payload:
    """Wrap one change ``value`` of webhook ``field`` in the WABA envelope."""
    entry: Payload = {"id": waba_id}
    if time is not None:
        entry["time"] = time
    entry["changes"] = [{"value": value, "field": field}]
    return {"object": "whatsapp_business_account", "entry": [entry]}


def _messages_value(number: BusinessNumber, **fields: Any) -> Payload:
    return {"messaging_product": "whatsapp", "metadata": number.metadata(), **fields}


def inbound_message(
    number: BusinessNumber,
    customer: Customer,
    *,
    message_id: str,
    timestamp: int,
    type: str,
    content: Payload,
    context_message_id: str | None = None,
) -> Payload:
    """A customer's message of ``type``; ``content`` is merged into the message object."""
    message: Payload = {
        **customer.sender_fields(),
        "id": message_id,
        "timestamp": str(timestamp),
    }
    if context_message_id is not None:
        message["context"] = {"from": number.display_phone_number, "id": context_message_id}
    message |= {"type": type, **content}
    value = _messages_value(
        number,
        contacts=[customer.card()],
        messages=[message],
    )
    return notification(number.waba_id, "messages", value)


def inbound_text(
    number: BusinessNumber,
    customer: Customer,
    *,
    message_id: str,
    timestamp: int,
    body: str,
    context_message_id: str | None = None,
) -> Payload:
    """A customer's text message."""
    return inbound_message(
        number,
        customer,
        message_id=message_id,
        timestamp=timestamp,
        type="text",
        content={"text": {"body": body}},
        context_message_id=context_message_id,
    )


def inbound_media(
    number: BusinessNumber,
    customer: Customer,
    *,
    message_id: str,
    timestamp: int,
    kind: str,
    media_id: str,
    sha256: str,
    mime_type: str,
    caption: str | None = None,
    filename: str | None = None,
) -> Payload:
    """A customer's image, sticker, audio, video or document; fetch the bytes via
    ``GET /{media_id}``."""
    media: Payload = {"mime_type": mime_type, "sha256": sha256, "id": media_id}
    if caption is not None:
        media["caption"] = caption
    if filename is not None:
        media["filename"] = filename
    return inbound_message(
        number,
        customer,
        message_id=message_id,
        timestamp=timestamp,
        type=kind,
        content={kind: media},
    )


def inbound_image(
    number: BusinessNumber,
    customer: Customer,
    *,
    message_id: str,
    timestamp: int,
    media_id: str,
    sha256: str,
    mime_type: str = "image/jpeg",
    caption: str | None = None,
) -> Payload:
    """A customer's image; fetch the bytes via ``GET /{media_id}``."""
    return inbound_media(
        number,
        customer,
        message_id=message_id,
        timestamp=timestamp,
        kind="image",
        media_id=media_id,
        sha256=sha256,
        mime_type=mime_type,
        caption=caption,
    )


def inbound_unsupported(
    number: BusinessNumber, customer: Customer, *, message_id: str, timestamp: int
) -> Payload:
    """A message type the Cloud API does not support (``errors`` carries 131051)."""
    return inbound_message(
        number,
        customer,
        message_id=message_id,
        timestamp=timestamp,
        type="unsupported",
        content={"errors": [webhook_error(131051)]},
    )


def inbound_changed_number(
    number: BusinessNumber, customer: Customer, *, message_id: str, timestamp: int, new_wa_id: str
) -> Payload:
    """Meta's system message: the customer (``from``, the old number) now uses ``new_wa_id``."""
    system = {
        "body": f"User {customer.name} changed from {customer.wa_id} to {new_wa_id}",
        "wa_id": new_wa_id,
        "type": "user_changed_number",
    }
    return inbound_message(
        number,
        customer,
        message_id=message_id,
        timestamp=timestamp,
        type="system",
        content={"system": system},
    )


def pricing(category: str, type: PricingType = "regular", *, billable: bool = True) -> Payload:
    """Per-message pricing (``PMP``); ``billable`` is deprecated but still sent."""
    return {"billable": billable, "pricing_model": "PMP", "type": type, "category": category}


def conversation(
    conversation_id: str, origin_type: str, *, expiration_timestamp: int | None = None
) -> Payload:
    """Conversation object (from v24.0 only inside free-entry-point windows)."""
    result: Payload = {"id": conversation_id}
    if expiration_timestamp is not None:
        result["expiration_timestamp"] = str(expiration_timestamp)
    result["origin"] = {"type": origin_type}
    return result


def status_update(
    number: BusinessNumber,
    *,
    message_id: str,
    recipient_id: str,
    status: StatusName,
    timestamp: int,
    pricing: Payload | None = None,
    conversation: Payload | None = None,
    errors: list[Payload] | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """A status of an outbound message; a ``failed`` one carries ``errors`` and no pricing."""
    item: Payload = {
        "id": message_id,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    optional = {
        "biz_opaque_callback_data": biz_opaque_callback_data,
        "conversation": conversation,
        "pricing": pricing,
        "errors": errors,
    }
    item |= {key: value for key, value in optional.items() if value is not None}
    return notification(number.waba_id, "messages", _messages_value(number, statuses=[item]))


def phone_number_quality_update(
    waba_id: str,
    *,
    display_phone_number: str,
    event: str,
    current_limit: str,
    time: int,
    old_limit: str | None = None,
    deprecated_fields: bool = True,
) -> Payload:
    """Quality/limit change of a number; ``old_limit`` only when the limit changed. Without
    ``deprecated_fields`` only ``max_daily_conversations_per_business`` is sent (Meta dropped
    ``current_limit`` and ``old_limit`` in 2026)."""
    value: Payload = {"display_phone_number": display_phone_number, "event": event}
    if deprecated_fields:
        value |= {"old_limit": old_limit} if old_limit is not None else {}
        value["current_limit"] = current_limit
    value["max_daily_conversations_per_business"] = current_limit
    return notification(waba_id, "phone_number_quality_update", value, time=time)


def message_template_status_update(
    waba_id: str,
    *,
    template_id: int,
    name: str,
    language: str,
    event: str,
    category: str,
    time: int,
    reason: str | None = "NONE",
) -> Payload:
    """A template's review/quality status changed to ``event`` (e.g. ``APPROVED``)."""
    value: Payload = {
        "event": event,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
        "message_template_category": category,
    }
    return notification(waba_id, "message_template_status_update", value, time=time)


def template_category_update(
    waba_id: str,
    *,
    template_id: int,
    name: str,
    language: str,
    previous_category: str,
    new_category: str,
    time: int,
) -> Payload:
    """Meta re-categorised a template."""
    value: Payload = {
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
        "previous_category": previous_category,
        "new_category": new_category,
    }
    return notification(waba_id, "template_category_update", value, time=time)


def message_template_quality_update(
    waba_id: str,
    *,
    template_id: int,
    name: str,
    language: str,
    previous_quality_score: str,
    new_quality_score: str,
    time: int,
) -> Payload:
    """A template's quality score changed (GREEN, YELLOW, RED, UNKNOWN)."""
    value: Payload = {
        "previous_quality_score": previous_quality_score,
        "new_quality_score": new_quality_score,
        "message_template_id": template_id,
        "message_template_name": name,
        "message_template_language": language,
    }
    return notification(waba_id, "message_template_quality_update", value, time=time)


def account_update(waba_id: str, *, event: str, time: int, **details: Any) -> Payload:
    """A WABA-level event, e.g. ``ACCOUNT_RESTRICTION`` with ``restriction_info``."""
    return notification(waba_id, "account_update", {"event": event, **details}, time=time)
