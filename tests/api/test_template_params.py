"""Unit tests of a template send's parameter check (runtime/domain/template_params.py): the
shapes the API tests do not reach."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.domain.errors import Invalid
from runtime.domain.template_params import build_components
from runtime.whatsapp.template_slots import template_slots


def _build(definition: list[dict[str, Any]], parameters: dict[str, Any]) -> tuple[Any, str]:
    rendered = build_components("t", definition, template_slots(definition), parameters)
    return rendered.components, rendered.text


def test_named_text_header_and_body_fill_the_shown_text() -> None:
    definition = [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{order}}"},
        {"type": "BODY", "text": "Hi {{customer_name}}, order {{order_id}} ships today."},
    ]
    parameters = {"header": ["#9"], "body": ["Budi", "A-1"]}
    components, shown = _build(definition, parameters)
    assert shown == "Order #9\nHi Budi, order A-1 ships today."
    rendered = build_components("t", definition, template_slots(definition), parameters)
    assert (rendered.header_text, rendered.body_text) == (
        "Order #9",
        "Hi Budi, order A-1 ships today.",
    )
    assert components[1]["parameters"][0] == {
        "type": "text",
        "text": "Budi",
        "parameter_name": "customer_name",
    }


def test_location_header_and_otp_button() -> None:
    definition = [
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BODY", "text": "*{{1}}* is your code."},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ]
    place = {"type": "location", "latitude": -6.2, "longitude": 106.8, "name": "Monas"}
    components, _ = _build(
        definition,
        {"header": [place], "body": ["123456"], "buttons": [{"index": 0, "value": "123456"}]},
    )
    assert components[0]["parameters"][0]["location"]["name"] == "Monas"
    assert components[2] == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "123456"}],
    }


@pytest.mark.parametrize(
    ("parameters", "code", "details"),
    [
        ({"footer": ["x"]}, "template_params_mismatch", {"component": "footer"}),
        (
            {
                "header": [
                    {"type": "currency", "fallback_value": "1", "code": "IDR", "amount_1000": 1}
                ]
            },
            "template_param_invalid",
            {"component": "header"},
        ),
        (
            {"header": ["x"], "buttons": [{"index": 0, "value": "a"}, {"index": 0, "value": "b"}]},
            "template_param_invalid",
            {"component": "buttons", "index": 1},
        ),
        (
            {"header": ["x"], "buttons": [{"index": 1, "value": "a"}]},
            "template_params_mismatch",
            {"component": "buttons", "index": 1},
        ),
    ],
)
def test_refusals_name_the_component(
    parameters: dict[str, Any], code: str, details: dict[str, Any]
) -> None:
    definition = [
        {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]},
    ]
    with pytest.raises(Invalid) as refused:
        _build(definition, parameters)
    assert refused.value.code == code
    assert details.items() <= refused.value.details.items()


def test_a_quick_reply_payload_is_optional() -> None:
    definition = [{"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]}]
    assert _build(definition, {}) == ([], "")
    components, _ = _build(definition, {"buttons": [{"index": 0, "value": "stop"}]})
    assert components[0]["parameters"] == [{"type": "payload", "payload": "stop"}]
