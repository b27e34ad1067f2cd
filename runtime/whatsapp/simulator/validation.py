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

MEDIA_TYPES = frozenset({"image", "document", "audio", "video"})
SUPPORTED_TYPES = MEDIA_TYPES | {"text", "template"}
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
    if not isinstance(content, dict):
        raise missing_parameter(kind)
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


_CHECKS = {
    "text": _check_text,
    "template": _check_template,
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
    """Each header/body component needs one parameter per placeholder (132000)."""
    given: dict[str, int] = {}
    for component in sent.get("components") or []:
        given[str(component.get("type", "")).lower()] = len(component.get("parameters") or [])
    for kind, expected in template.placeholder_counts().items():
        if given.get(kind, 0) != expected:
            raise GraphFault(
                132000,
                details=(
                    f"{kind}: number of localizable_params ({given.get(kind, 0)}) does not "
                    f"match the expected number of params ({expected})"
                ),
            )


def check_typing_indicator(body: dict[str, Any]) -> bool:
    """Whether a mark-as-read asks for the typing indicator; code 100 for anything but
    ``{"type": "text"}``, as Graph answers."""
    if "typing_indicator" not in body:
        return False
    indicator = body["typing_indicator"]
    if not isinstance(indicator, dict) or "type" not in indicator:
        raise missing_parameter("typing_indicator[type]")
    if indicator["type"] != "text":
        raise invalid_parameter(
            f'Param typing_indicator[type] must be one of {{TEXT}} - got "{indicator["type"]}".'
        )
    return True
