"""Which send-time parameters a template definition needs, read from Meta's component format.

Both sides use it: the product checks an agent's or a campaign's parameters before queueing
(runtime/domain/template_params.py) and the simulator refuses a send as Meta does (132000 /
132012). A template definition is Meta's ``components`` list as ``GET message_templates``
answers it: ``HEADER`` (``format`` TEXT / IMAGE / VIDEO / DOCUMENT / LOCATION), ``BODY``,
``FOOTER`` and ``BUTTONS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_FORMATS = frozenset({"image", "video", "document"})
BODY_TYPES = frozenset({"text", "currency", "date_time"})
# Button kinds that take a parameter: a URL with a ``{{1}}`` suffix, a quick reply's payload
# (optional: Meta falls back to none), a coupon code, an authentication code (sent as a URL
# button's text, as Meta's authentication templates expect).
BUTTON_SUB_TYPES = {"url": "url", "quick_reply": "quick_reply", "copy_code": "copy_code"}


def placeholders(text: str) -> list[str]:
    """Distinct placeholder names of a component text, in order (``{{1}}`` → ``"1"``)."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


@dataclass(frozen=True)
class Slot:
    """One parameter a send must (or, ``optional``, may) give.

    ``kind``: ``text`` (header/body), a header media format (``image`` …) or ``location``,
    or for buttons ``url``, ``quick_reply``, ``copy_code``, ``otp``. ``index``: the position
    in its header/body, or the button's index in the ``BUTTONS`` component."""

    component: str  # header | body | button
    index: int
    kind: str
    name: str | None = None  # a named parameter's name ({{customer_name}})
    optional: bool = False

    @property
    def sub_type(self) -> str:
        """Meta's ``sub_type`` of a button's send-time component."""
        return "url" if self.kind == "otp" else self.kind


@dataclass(frozen=True)
class TemplateSlots:
    header: list[Slot]
    body: list[Slot]
    buttons: dict[int, Slot]  # by button index; buttons without a parameter are absent

    @property
    def named(self) -> bool:
        return any(s.name is not None and not s.name.isdigit() for s in self.header + self.body)


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in components if str(c.get("type", "")).upper() == kind), None)


def _text_slots(component: str, definition: dict[str, Any] | None) -> list[Slot]:
    text = str(definition.get("text", "")) if definition else ""
    return [Slot(component, i, "text", name) for i, name in enumerate(placeholders(text))]


def _header_slots(definition: dict[str, Any] | None) -> list[Slot]:
    if definition is None:
        return []
    header_format = str(definition.get("format", "TEXT")).lower()
    if header_format in MEDIA_FORMATS or header_format == "location":
        return [Slot("header", 0, header_format)]
    return _text_slots("header", definition)


def _button_slot(index: int, button: dict[str, Any]) -> Slot | None:
    kind = str(button.get("type", "")).upper()
    if kind == "URL" and placeholders(str(button.get("url", ""))):
        return Slot("button", index, "url")
    if kind == "QUICK_REPLY":
        return Slot("button", index, "quick_reply", optional=True)
    if kind == "COPY_CODE":
        return Slot("button", index, "copy_code")
    if kind == "OTP" and str(button.get("otp_type", "COPY_CODE")).upper() != "ZERO_TAP":
        return Slot("button", index, "otp")
    return None


def template_slots(components: list[dict[str, Any]]) -> TemplateSlots:
    """The parameters a send of a template with these ``components`` takes."""
    buttons_component = _component(components, "BUTTONS") or {}
    buttons = [b for b in buttons_component.get("buttons") or [] if isinstance(b, dict)]
    return TemplateSlots(
        header=_header_slots(_component(components, "HEADER")),
        body=_text_slots("body", _component(components, "BODY")),
        buttons={
            index: slot
            for index, button in enumerate(buttons)
            if (slot := _button_slot(index, button)) is not None
        },
    )
