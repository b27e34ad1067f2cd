"""The third-party pywa library talks to the simulator over a real socket.

pywa's ``GraphAPI.__init__`` overwrites ``session.base_url`` with the hard-coded
``https://graph.facebook.com/v{api_version}``, so there is no public base-URL option. The least
hacky route is pywa's public ``session=`` argument: an ``httpx.Client`` whose transport
re-targets each request at the simulator, leaving path, query, headers and body untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import pywa  # a declared test dependency: missing must fail, never skip
import pywa.errors as pywa_errors
import pywa.types.templates as templates
from fastapi import FastAPI
from pywa import types

from runtime.whatsapp.simulator import create_app

from .support import CUSTOMER, DISPLAY_NUMBER, FAST, PHONE_ID, TOKEN, WABA_ID


class ToSimulator(httpx.BaseTransport):
    """Sends every request to ``target`` (scheme, host, port) over plain HTTP."""

    def __init__(self, target: str) -> None:
        self._target = httpx.URL(target)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self._target.scheme, host=self._target.host, port=self._target.port
        )
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def simulator_url(serve: Callable[[FastAPI], str]) -> str:
    url = serve(create_app(FAST))
    seeds = {
        "phone_numbers": {
            "id": PHONE_ID,
            "display_phone_number": DISPLAY_NUMBER,
            "waba_id": WABA_ID,
            "access_token": TOKEN,
            "verified_name": "Lucky Shrub",
        },
        "templates": {
            "waba_id": WABA_ID,
            "name": "order_update",
            "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."}],
        },
        "templates#rich": {
            "waba_id": WABA_ID,
            "name": "promo_rich",
            "category": "MARKETING",
            "components": RICH_COMPONENTS,
        },
        "templates#otp": {
            "waba_id": WABA_ID,
            "name": "login_code",
            "category": "AUTHENTICATION",
            "components": [
                {
                    "type": "BODY",
                    "text": "*{{1}}* is your verification code.",
                    "example": {"body_text": [["123456"]]},
                },
                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
            ],
        },
        f"customers/{CUSTOMER}/messages": {"phone_number_id": PHONE_ID, "text": "hello"},
    }
    for path, body in seeds.items():
        httpx.post(f"{url}/_sim/{path.partition('#')[0]}", json=body).raise_for_status()
    return url


RICH_COMPONENTS = [
    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U="]}},
    {
        "type": "BODY",
        "text": "Hi {{1}}, {{2}} off until {{3}}.",
        "example": {"body_text": [["Budi", "Rp 50.000", "1 December"]]},
    },
    {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Track",
                "url": "https://shop.example/o/{{1}}",
                "example": ["https://shop.example/o/A-77"],
            },
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "COPY_CODE", "example": "SAVE25"},
        ],
    },
]


@pytest.fixture
def wa(simulator_url: str) -> pywa.WhatsApp:
    session = httpx.Client(transport=ToSimulator(simulator_url))
    return pywa.WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=session, api_version="25.0")


def _sent(simulator_url: str, wamid: str) -> dict[str, Any]:
    message: dict[str, Any] = httpx.get(f"{simulator_url}/_sim/messages/{wamid}").json()
    return message


def _inbound_wamid(simulator_url: str) -> str:
    """The customer's seeded "hello" (the webhook went nowhere; the simulator keeps it)."""
    deliveries = httpx.get(f"{simulator_url}/_sim/webhooks").json()["data"]
    messages = [
        m
        for d in deliveries
        for m in d["payload"]["entry"][0]["changes"][0]["value"].get("messages", [])
    ]
    return str(messages[0]["id"])


def test_pywa_sends_text_and_template_through_the_simulator(simulator_url: str) -> None:
    session = httpx.Client(transport=ToSimulator(simulator_url))
    wa = pywa.WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=session, api_version="25.0")

    text = wa.send_message(to=CUSTOMER, text="Hello from pywa")
    template = wa.send_template(
        to=CUSTOMER,
        name="order_update",
        language=templates.TemplateLanguage.ENGLISH_US,
        params=[templates.BodyText.params("Pablo", "#1234")],
    )

    assert text.id.startswith("wamid.") and template.id.startswith("wamid.")
    assert template.status == "accepted"
    sent = httpx.get(f"{simulator_url}/_sim/messages").json()["data"]
    assert [(m["id"], m["type"]) for m in sent] == [(text.id, "text"), (template.id, "template")]
    assert sent[1]["body"]["template"]["components"][0]["parameters"][1]["text"] == "#1234"


def test_pywa_parses_the_simulators_errors(simulator_url: str) -> None:
    session = httpx.Client(transport=ToSimulator(simulator_url))
    wa = pywa.WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=session, api_version="25.0")
    with pytest.raises(pywa_errors.TemplateNotExists) as missing:
        wa.send_template(to=CUSTOMER, name="nope", language=templates.TemplateLanguage.ENGLISH_US)
    assert missing.value.details == "template name (nope) does not exist in en_US"
    with pytest.raises(pywa_errors.TemplateParamCountMismatch) as mismatch:
        wa.send_template(
            to=CUSTOMER, name="order_update", language=templates.TemplateLanguage.ENGLISH_US
        )
    assert mismatch.value.code == 132000


def test_pywa_sends_buttons_lists_reactions_locations_and_contacts(
    wa: pywa.WhatsApp, simulator_url: str
) -> None:
    hello = _inbound_wamid(simulator_url)
    buttons = wa.send_message(
        to=CUSTOMER,
        text="Reschedule?",
        header="Your visit",
        footer="Demo Shop",
        buttons=[
            types.Button(title="Change", callback_data="change"),
            types.Button(title="Keep", callback_data="keep"),
        ],
        reply_to_message_id=hello,
    )
    listed = wa.send_message(
        to=CUSTOMER,
        text="Which slot?",
        buttons=types.SectionList(
            button_title="Slots",
            sections=[
                types.Section(
                    title="Morning",
                    rows=[types.SectionRow(title=f"{h}:00", callback_data=f"h{h}") for h in (8, 9)],
                )
            ],
        ),
    )
    reaction = wa.send_reaction(to=CUSTOMER, emoji="👍", message_id=hello)
    unreaction = wa.remove_reaction(to=CUSTOMER, message_id=hello)
    location = wa.send_location(
        to=CUSTOMER, latitude=-6.175, longitude=106.827, name="Monas", address="Jakarta"
    )
    contact = wa.send_contact(
        to=CUSTOMER,
        contact=types.Contact(
            name=types.Contact.Name(formatted_name="Siti Aminah", first_name="Siti"),
            phones=[types.Contact.Phone(phone="+62 812 0000 1111", type="CELL")],
        ),
    )

    sent = {
        name: _sent(simulator_url, m.id)
        for name, m in (
            ("buttons", buttons),
            ("list", listed),
            ("reaction", reaction),
            ("unreaction", unreaction),
            ("location", location),
            ("contact", contact),
        )
    }
    assert sent["buttons"]["body"]["context"] == {"message_id": hello}
    assert sent["buttons"]["body"]["interactive"]["action"]["buttons"][1]["reply"]["id"] == "keep"
    assert sent["list"]["body"]["interactive"]["action"]["sections"][0]["rows"][1]["id"] == "h9"
    assert sent["reaction"]["body"]["reaction"] == {"message_id": hello, "emoji": "👍"}
    assert sent["unreaction"]["body"]["reaction"]["emoji"] == ""
    assert sent["location"]["body"]["location"]["name"] == "Monas"
    assert sent["contact"]["body"]["contacts"][0]["phones"][0]["phone"] == "+62 812 0000 1111"
    assert all(m["status"] != "failed" for m in sent.values())


def test_pywa_is_refused_past_metas_interactive_limits(wa: pywa.WhatsApp) -> None:
    with pytest.raises(pywa_errors.WhatsAppError) as four:
        wa.send_message(
            to=CUSTOMER,
            text="Pick",
            buttons=[types.Button(title=f"B{i}", callback_data=f"b{i}") for i in range(4)],
        )
    assert four.value.code == 131009
    with pytest.raises(pywa_errors.WhatsAppError) as long_title:
        wa.send_message(
            to=CUSTOMER, text="Pick", buttons=[types.Button(title="x" * 21, callback_data="x")]
        )
    assert long_title.value.code == 131009
    rows = [types.SectionRow(title=f"R{i}", callback_data=f"r{i}") for i in range(11)]
    with pytest.raises(pywa_errors.WhatsAppError) as eleven:
        wa.send_message(
            to=CUSTOMER,
            text="Pick",
            buttons=types.SectionList(
                button_title="Rows", sections=[types.Section(title="All", rows=rows)]
            ),
        )
    assert eleven.value.code == 131009


def test_pywa_reaction_to_an_unknown_message_fails_by_status(
    wa: pywa.WhatsApp, simulator_url: str
) -> None:
    reaction = wa.send_reaction(to=CUSTOMER, emoji="👍", message_id="wamid.not-in-this-chat")
    assert _sent(simulator_url, reaction.id)["status"] == "failed"


def test_pywa_sends_templates_with_every_component(wa: pywa.WhatsApp, simulator_url: str) -> None:
    english = templates.TemplateLanguage.ENGLISH_US
    full = [
        templates.HeaderImage.params(image="https://cdn.example/promo.png"),
        templates.BodyText.params(
            "Budi",
            templates.Currency(fallback_value="Rp 50.000", code="IDR", amount_1000=50_000_000),
            templates.DateTime(fallback_value="1 December"),
        ),
        templates.URLButton.params(url_variable="A-77", index=0),
        templates.QuickReplyButton.params(callback_data="stop", index=1),
        templates.CopyCodeButton.params(coupon_code="SAVE25", index=2),
    ]
    promo = wa.send_template(to=CUSTOMER, name="promo_rich", language=english, params=full)
    otp = wa.send_template(
        to=CUSTOMER,
        name="login_code",
        language=english,
        params=[
            templates.BodyText.params("123456"),
            templates.CopyCodeOTPButton.params(otp="123456"),
        ],
    )
    components = _sent(simulator_url, promo.id)["body"]["template"]["components"]
    assert components[0]["parameters"][0]["image"]["link"] == "https://cdn.example/promo.png"
    assert _sent(simulator_url, otp.id)["status"] != "failed"

    without_image = [p for p in full if not isinstance(p, templates.HeaderImage._Params)]
    with pytest.raises(pywa_errors.TemplateParamCountMismatch) as missing:
        wa.send_template(to=CUSTOMER, name="promo_rich", language=english, params=without_image)
    assert missing.value.details.startswith("header:")
    text_header = [templates.HeaderText.params("x"), *without_image]
    with pytest.raises(pywa_errors.WhatsAppError) as mismatch:
        wa.send_template(to=CUSTOMER, name="promo_rich", language=english, params=text_header)
    assert mismatch.value.code == 132012
    no_code = [p for p in full if not isinstance(p, templates.CopyCodeButton._Params)]
    with pytest.raises(pywa_errors.TemplateParamCountMismatch) as no_coupon:
        wa.send_template(to=CUSTOMER, name="promo_rich", language=english, params=no_code)
    assert "index 2" in str(no_coupon.value.details)


def test_pywa_reads_the_phone_number_and_templates(wa: pywa.WhatsApp) -> None:
    number = wa.get_business_phone_number()
    assert number.id == PHONE_ID and number.verified_name == "Lucky Shrub"
    names = {t.name for t in wa.get_templates(waba_id=WABA_ID)}
    assert {"order_update", "promo_rich", "login_code"} <= names
