"""A template send's parameters, checked against the template's stored definition.

The API (and a campaign, per recipient) gives parameters per component::

    {"header": ["#123"] | [{"type": "image", "link": "https://…"} | {"type": "document",
                                                                      "id": "…", "filename": …}],
     "body": ["Budi", {"type": "currency", "fallback_value": "Rp 10.000", "code": "IDR",
                       "amount_1000": 10000000}, {"type": "date_time", "fallback_value": "…"}],
     "buttons": [{"index": 0, "value": "ORDER-12"}]}

A missing or extra parameter is refused before anything is queued (422
``template_params_mismatch``, ``details`` naming the component and index); a value of the
wrong shape is ``template_param_invalid``. What passes becomes Meta's send-time components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.domain.errors import Invalid
from runtime.whatsapp.template_slots import MEDIA_FORMATS, Slot, TemplateSlots

COMPONENTS = ("header", "body", "buttons")
COUPON_CODE_MAX = 15  # Meta's limit for a copy-code button's coupon (and a one-time code)
BUTTON_VALUE_MAX = 2000
Json = dict[str, Any]


def _mismatch(template_name: str, component: str, index: int, problem: str) -> Invalid:
    what = "is missing" if problem == "missing" else "is not in the template"
    return Invalid(
        "template_params_mismatch",
        f"Template {template_name!r}: {component} parameter {index} {what}.",
        {"component": component, "index": index, "problem": problem},
    )


def _invalid(component: str, index: int, message: str) -> Invalid:
    return Invalid(
        "template_param_invalid",
        f"{component} parameter {index}: {message}",
        {"component": component, "index": index},
    )


def _check_count(name: str, component: str, slots: list[Slot], given: list[Any]) -> None:
    if len(given) < len(slots):
        raise _mismatch(name, component, len(given), "missing")
    if len(given) > len(slots):
        raise _mismatch(name, component, len(slots), "extra")


def _text(component: str, index: int, value: Any) -> str:
    if isinstance(value, dict) and value.get("type") == "text":
        value = value.get("text")
    if not isinstance(value, str) or not value.strip():
        raise _invalid(component, index, "needs a non-empty text.")
    return value


def _media(slot: Slot, value: Any) -> Json:
    if not isinstance(value, dict) or value.get("type") != slot.kind:
        raise _invalid(
            "header",
            0,
            f"the template's header is {slot.kind.upper()}: give "
            f'{{"type": "{slot.kind}", "link": …}} or an uploaded media "id".',
        )
    reference = {key: value[key] for key in ("id", "link") if value.get(key)}
    if len(reference) != 1:
        raise _invalid("header", 0, "give exactly one of link or id.")
    link = reference.get("link")
    if link is not None and not str(link).startswith("https://"):
        raise _invalid("header", 0, "a media link must be an https:// URL.")
    if slot.kind == "document" and value.get("filename"):
        reference["filename"] = str(value["filename"])
    return {"type": slot.kind, slot.kind: reference}


def _location(value: Any) -> Json:
    if not isinstance(value, dict) or value.get("type") != "location":
        raise _invalid("header", 0, 'the header is a LOCATION: give {"type": "location", …}.')
    try:
        latitude, longitude = float(value["latitude"]), float(value["longitude"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid("header", 0, "a location needs numeric latitude and longitude.") from exc
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise _invalid("header", 0, "latitude/longitude out of range.")
    place = {k: str(value[k]) for k in ("name", "address") if value.get(k)}
    return {"type": "location", "location": {"latitude": latitude, "longitude": longitude, **place}}


def _text_parameter(slot: Slot, value: Any, named: bool) -> tuple[Json, str]:
    """Meta's parameter and the text the customer reads in its place."""
    kind = value.get("type", "text") if isinstance(value, dict) else "text"
    if kind == "text":
        text = _text(slot.component, slot.index, value)
        parameter: Json = {"type": "text", "text": text}
        if named and slot.name is not None:
            parameter["parameter_name"] = slot.name
        return parameter, text
    if slot.component == "header":
        raise _invalid(slot.component, slot.index, "a header parameter is a text.")
    fallback = value.get("fallback_value")
    if not isinstance(fallback, str) or not fallback.strip():
        raise _invalid(slot.component, slot.index, f"a {kind} needs a fallback_value.")
    if kind == "date_time":
        return {"type": "date_time", "date_time": {"fallback_value": fallback}}, fallback
    if kind != "currency":
        raise _invalid(slot.component, slot.index, "type must be text, currency or date_time.")
    code, amount = value.get("code"), value.get("amount_1000")
    if not (isinstance(code, str) and len(code) == 3 and code.isalpha()):
        raise _invalid(slot.component, slot.index, "a currency needs an ISO 4217 code.")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise _invalid(slot.component, slot.index, "amount_1000 must be an integer.")
    currency = {"fallback_value": fallback, "code": code.upper(), "amount_1000": amount}
    return {"type": "currency", "currency": currency}, fallback


def _text_component(
    kind: str, name: str, slots: list[Slot], given: list[Any], named: bool
) -> tuple[Json | None, dict[str, str]]:
    """The header or body component and the texts that replace its placeholders."""
    _check_count(name, kind, slots, given)
    if not slots:
        return None, {}
    first = slots[0]
    if first.kind in MEDIA_FORMATS:
        return {"type": kind, "parameters": [_media(first, given[0])]}, {}
    if first.kind == "location":
        return {"type": kind, "parameters": [_location(given[0])]}, {}
    parameters, texts = [], {}
    for slot, value in zip(slots, given, strict=True):
        parameter, texts[slot.name or ""] = _text_parameter(slot, value, named)
        parameters.append(parameter)
    return {"type": kind, "parameters": parameters}, texts


def _button_value(slot: Slot, value: Any) -> Json:
    text = _text("buttons", slot.index, value)
    if slot.kind in ("copy_code", "otp") and len(text) > COUPON_CODE_MAX:
        raise _invalid("buttons", slot.index, f"a code is at most {COUPON_CODE_MAX} characters.")
    if len(text) > BUTTON_VALUE_MAX:
        raise _invalid("buttons", slot.index, f"at most {BUTTON_VALUE_MAX} characters.")
    if slot.kind == "quick_reply":
        return {"type": "payload", "payload": text}
    if slot.kind == "copy_code":
        return {"type": "coupon_code", "coupon_code": text}
    return {"type": "text", "text": text}


def _buttons(name: str, slots: TemplateSlots, given: list[Any]) -> list[Json]:
    by_index: dict[int, Any] = {}
    for position, item in enumerate(given):
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or index in by_index:
            raise _invalid("buttons", position, "each button needs its own integer index.")
        by_index[index] = item.get("value")
    for index in sorted(by_index):
        if index not in slots.buttons:
            raise _mismatch(name, "buttons", index, "extra")
    components = []
    for index, slot in sorted(slots.buttons.items()):
        if index not in by_index:
            if slot.optional:
                continue
            raise _mismatch(name, "buttons", index, "missing")
        components.append(
            {
                "type": "button",
                "sub_type": slot.sub_type,
                "index": str(index),
                "parameters": [_button_value(slot, by_index[index])],
            }
        )
    return components


def _filled(text: str, texts: dict[str, str]) -> str:
    for placeholder, value in texts.items():
        text = text.replace(f"{{{{{placeholder}}}}}", value)
    return text


def _shown(definition: list[Json], kind: str, texts: dict[str, str]) -> str | None:
    """The ``kind`` component's text with its placeholders filled; None without a text."""
    found = next((c for c in definition if str(c.get("type", "")).upper() == kind), None)
    return _filled(str(found["text"]), texts) if found and found.get("text") else None


@dataclass(frozen=True)
class RenderedTemplate:
    components: list[Json]  # Meta's send-time components with parameters
    header_text: str | None  # a TEXT header as the customer reads it
    body_text: str | None

    @property
    def text(self) -> str:
        """What the customer reads, for the inbox: the header line, then the body."""
        return "\n".join(t for t in (self.header_text, self.body_text) if t is not None)


def build_components(
    name: str, definition: list[Json], slots: TemplateSlots, parameters: dict[str, list[Any]]
) -> RenderedTemplate:
    """Meta's send-time components and the texts the customer reads (header and body)."""
    unknown = sorted(set(parameters) - set(COMPONENTS))
    if unknown:
        raise Invalid(
            "template_params_mismatch",
            f"Unknown template component(s): {unknown}.",
            {"component": unknown[0], "index": 0, "problem": "extra"},
        )
    header, header_texts = _text_component(
        "header", name, slots.header, list(parameters.get("header") or []), slots.named
    )
    body, body_texts = _text_component(
        "body", name, slots.body, list(parameters.get("body") or []), slots.named
    )
    components = [c for c in (header, body) if c is not None]
    components += _buttons(name, slots, list(parameters.get("buttons") or []))
    header_text = _shown(definition, "HEADER", header_texts)
    body_text = _shown(definition, "BODY", body_texts)
    _within_limit("header", header_text)
    _within_limit("body", body_text)
    return RenderedTemplate(components, header_text, body_text)


# Meta's lengths for a template's texts, which hold once the parameters are filled in
# (developers.facebook.com/documentation/business-messaging/whatsapp/templates/components).
TEXT_LIMITS = {"header": 60, "body": 1024}


class TextTooLong(Invalid):
    """A text over Meta's limit once filled in: a matter of one contact's values."""

    @property
    def component(self) -> str:
        return str(self.details["component"])


def _within_limit(component: str, text: str | None) -> None:
    limit = TEXT_LIMITS[component]
    if text is not None and len(text) > limit:
        raise TextTooLong(
            "template_text_too_long",
            f"With these parameters the template's {component} is {len(text)} characters; "
            f"WhatsApp allows {limit}.",
            {"component": component, "length": len(text), "limit": limit},
        )
