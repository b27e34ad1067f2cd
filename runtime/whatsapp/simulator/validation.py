"""Meta's validation of ``POST /{phone-number-id}/messages`` bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runtime.whatsapp.simulator.faults import (
    GraphFault,
    invalid_parameter,
    missing_parameter,
)
from runtime.whatsapp.simulator.state import Template
from runtime.whatsapp.template_slots import Slot, template_slots

MEDIA_TYPES = frozenset({"image", "document", "audio", "video"})
SUPPORTED_TYPES = MEDIA_TYPES | {
    "text",
    "template",
    "interactive",
    "reaction",
    "location",
    "contacts",
}
META_TYPES = SUPPORTED_TYPES | {
    "contacts",
    "interactive",
    "location",
    "reaction",
    "sticker",
}
TEXT_MAX = 4096
CAPTION_MAX = 1024
_PHONE_FORMATTING = re.compile(r"[\s()+-]")


@dataclass(frozen=True)
class SendRequest:
    """A validated send: ``to`` as given, the resolved ``wa_id`` and the typed content."""

    to: str
    wa_id: str
    type: str
    content: dict[str, Any]
    reply_to: str | None
    biz_opaque_callback_data: str | None


def require_whatsapp(body: dict[str, Any]) -> None:
    product = body.get("messaging_product")
    if product is None:
        raise missing_parameter("messaging_product")
    if product != "whatsapp":
        raise invalid_parameter(
            f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
        )


def parse_send(body: dict[str, Any]) -> SendRequest:
    """Validate a send body; raise :class:`GraphFault` exactly where Meta would."""
    require_whatsapp(body)
    to = body.get("to")
    if not isinstance(to, str) or not to:
        raise missing_parameter("to")
    wa_id = _PHONE_FORMATTING.sub("", to)
    if not wa_id.isdigit():
        raise invalid_parameter(f'Param to must be a valid phone number - got "{to}".')
    kind = body.get("type", "text")
    if kind not in META_TYPES:
        allowed = ", ".join(sorted(t.upper() for t in META_TYPES))
        raise invalid_parameter(f'Param type must be one of {{{allowed}}} - got "{kind}".')
    if kind not in SUPPORTED_TYPES:
        raise GraphFault(131051, details=f"Message type {kind} is not supported by the simulator.")
    content = body.get(kind)
    if kind == "contacts":  # the one list-valued type
        _check_contacts(content)
        content = {"contacts": content}
    elif not isinstance(content, dict):
        raise missing_parameter(kind)
    else:
        _CHECKS[kind](kind, content)
    context = body.get("context")
    reply_to = context.get("message_id") if isinstance(context, dict) else None
    return SendRequest(to, wa_id, kind, content, reply_to, body.get("biz_opaque_callback_data"))


def _check_text(_: str, text: dict[str, Any]) -> None:
    body = text.get("body")
    if not isinstance(body, str) or not body:
        raise missing_parameter("text['body']")
    if len(body) > TEXT_MAX:
        raise invalid_parameter(f"Param text['body'] must be at most {TEXT_MAX} characters long.")


def _check_media(kind: str, media: dict[str, Any]) -> None:
    if ("id" in media) == ("link" in media):
        raise invalid_parameter(f"Param {kind} must contain exactly one of id or link.")
    if len(media.get("caption", "")) > CAPTION_MAX:
        raise invalid_parameter(
            f"Param {kind}['caption'] must be at most {CAPTION_MAX} characters long."
        )


def _check_template(_: str, template: dict[str, Any]) -> None:
    if not template.get("name"):
        raise missing_parameter("template['name']")
    language = template.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise missing_parameter("template['language']['code']")


def _not_valid(details: str) -> GraphFault:
    """Meta's 131009 "Parameter value is not valid" with what was wrong."""
    return GraphFault(131009, details=details)


def _check_length(value: Any, name: str, limit: int, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        raise missing_parameter(name)
    if len(value) > limit:
        raise _not_valid(f"{name} is too long: at most {limit} characters, got {len(value)}.")


def _check_interactive(_: str, interactive: dict[str, Any]) -> None:
    """Reply buttons and lists with Meta's limits; other interactive types pass through."""
    kind = interactive.get("type")
    if kind not in INTERACTIVE_TYPES:
        allowed = ", ".join(sorted(INTERACTIVE_TYPES))
        raise invalid_parameter(f"Param interactive['type'] must be one of {{{allowed}}}.")
    body = interactive.get("body")
    if kind in ("button", "list"):
        _check_length((body or {}).get("text"), "interactive['body']['text']", 1024)
    footer = interactive.get("footer")
    if isinstance(footer, dict):
        _check_length(footer.get("text"), "interactive['footer']['text']", 60)
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise missing_parameter("interactive['action']")
    if kind == "button":
        _check_reply_buttons(action)
    elif kind == "list":
        _check_list(action)


def _check_reply_buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise missing_parameter("interactive['action']['buttons']")
    if len(buttons) > 3:
        raise _not_valid(f"Buttons count is invalid: at most 3, got {len(buttons)}.")
    ids = []
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(reply, dict):
            raise missing_parameter("interactive['action']['buttons'][]['reply']")
        _check_length(reply.get("title"), "button title", 20)
        _check_length(reply.get("id"), "button id", 256)
        ids.append(reply["id"])
    if len(set(ids)) != len(ids):
        raise _not_valid("Button ids must be unique.")


def _check_list(action: dict[str, Any]) -> None:
    _check_length(action.get("button"), "interactive['action']['button']", 20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise missing_parameter("interactive['action']['sections']")
    if len(sections) > 10:
        raise _not_valid(f"Sections count is invalid: at most 10, got {len(sections)}.")
    rows = [row for s in sections if isinstance(s, dict) for row in s.get("rows") or []]
    if len(rows) > 10:
        raise _not_valid(f"Total row count exceed max allowed count: 10, got {len(rows)}.")
    for section in sections:
        _check_length(section.get("title"), "section title", 24, required=len(sections) > 1)
    for row in rows:
        _check_length(row.get("title"), "row title", 24)
        _check_length(row.get("id"), "row id", 200)
        _check_length(row.get("description"), "row description", 72, required=False)
    if len({row["id"] for row in rows}) != len(rows):
        raise _not_valid("Row ids must be unique.")


def _check_reaction(_: str, reaction: dict[str, Any]) -> None:
    if not isinstance(reaction.get("message_id"), str) or not reaction["message_id"]:
        raise missing_parameter("reaction['message_id']")
    if not isinstance(reaction.get("emoji"), str):
        raise missing_parameter("reaction['emoji']")


def _check_location(_: str, location: dict[str, Any]) -> None:
    for name, bound in (("latitude", 90), ("longitude", 180)):
        value = location.get(name)
        if value is None:
            raise missing_parameter(f"location['{name}']")
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise invalid_parameter(f"Param location['{name}'] must be a number.") from exc
        if not -bound <= number <= bound:
            raise _not_valid(f"location {name} {number} is out of range.")


def _check_contacts(contacts: Any) -> None:
    if not isinstance(contacts, list) or not contacts:
        raise missing_parameter("contacts")
    for card in contacts:
        name = card.get("name") if isinstance(card, dict) else None
        if not isinstance(name, dict) or not name.get("formatted_name"):
            raise missing_parameter("contacts[]['name']['formatted_name']")


INTERACTIVE_TYPES = frozenset(
    {"button", "list", "cta_url", "flow", "product", "product_list", "catalog_message",
     "location_request_message", "call_permission_request"}
)  # fmt: skip
_CHECKS = {
    "text": _check_text,
    "template": _check_template,
    "interactive": _check_interactive,
    "reaction": _check_reaction,
    "location": _check_location,
    **{kind: _check_media for kind in MEDIA_TYPES},
}


def check_template_usable(template: Template | None, name: str, language: str) -> Template:
    """Template must exist in that language and be approved (132001 / 132015 / 132016)."""
    if template is not None and template.status == "PAUSED":
        raise GraphFault(132015)
    if template is not None and template.status == "DISABLED":
        raise GraphFault(132016)
    if template is None or template.status != "APPROVED":
        raise GraphFault(132001, details=f"template name ({name}) does not exist in {language}")
    return template


def check_template_params(template: Template, sent: dict[str, Any]) -> None:
    """Every header/body placeholder and every button that takes one needs its parameter, and
    nothing more (132000); a parameter must be of the template's kind (132012): a media
    header needs that media, a URL button a text, a copy-code button a coupon code."""
    slots = template_slots(template.components)
    given: dict[str, list[Any]] = {}
    buttons: dict[int, dict[str, Any]] = {}
    for component in sent.get("components") or []:
        kind = str(component.get("type", "")).lower()
        if kind == "button":
            buttons[_button_index(component)] = component
        else:
            given[kind] = list(component.get("parameters") or [])
    for kind, expected in (("header", slots.header), ("body", slots.body)):
        _check_count(kind, len(given.get(kind, [])), len(expected))
        for slot, parameter in zip(expected, given.get(kind, []), strict=True):
            _check_format(slot, parameter)
    for index, slot in slots.buttons.items():
        if index not in buttons and not slot.optional:
            _check_count(f"button at index {index}", 0, 1)
    for index, component in buttons.items():
        button = slots.buttons.get(index)
        parameters = list(component.get("parameters") or [])
        _check_count(f"button at index {index}", len(parameters), 0 if button is None else 1)
        if button is not None:
            if str(component.get("sub_type", "")).lower() != button.sub_type:
                raise _format_mismatch(
                    f"button at index {index}", button.sub_type, component.get("sub_type")
                )
            _check_format(button, parameters[0])


_BUTTON_PARAMETER = {
    "url": "text",
    "otp": "text",
    "quick_reply": "payload",
    "copy_code": "coupon_code",
}


def _button_index(component: dict[str, Any]) -> int:
    try:
        return int(component.get("index"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise missing_parameter("template['components'][]['index']") from exc


def _check_count(where: str, given: int, expected: int) -> None:
    if given != expected:
        raise GraphFault(
            132000,
            details=(
                f"{where}: number of localizable_params ({given}) does not "
                f"match the expected number of params ({expected})"
            ),
        )


def _format_mismatch(where: str, expected: Any, received: Any) -> GraphFault:
    return GraphFault(
        132012,
        details=f"{where}: Format mismatch, expected {str(expected).upper()}, "
        f"received {str(received).upper()}",
    )


def _check_format(slot: Slot, parameter: Any) -> None:
    """The parameter's ``type`` fits its slot and carries its value object."""
    received = parameter.get("type") if isinstance(parameter, dict) else None
    where = f"{slot.component} parameter {slot.index}"
    if slot.component == "button":
        expected = {_BUTTON_PARAMETER[slot.kind]}
    elif slot.kind == "text":
        expected = {"text", "currency", "date_time"} if slot.component == "body" else {"text"}
    else:
        expected = {slot.kind}
    if received not in expected:
        raise _format_mismatch(where, slot.kind, received)
    value = parameter.get(received)
    if value is None or (isinstance(value, str | dict) and not value):
        raise missing_parameter(f"{where}['{received}']")
