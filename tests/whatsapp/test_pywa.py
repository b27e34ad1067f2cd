"""The third-party pywa library talks to the simulator over a real socket.

pywa's ``GraphAPI.__init__`` overwrites ``session.base_url`` with the hard-coded
``https://graph.facebook.com/v{api_version}``, so there is no public base-URL option. The least
hacky route is pywa's public ``session=`` argument: an ``httpx.Client`` whose transport
re-targets each request at the simulator, leaving path, query, headers and body untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import pywa  # a declared test dependency: missing must fail, never skip
import pywa.errors as pywa_errors
import pywa.types.templates as templates
from fastapi import FastAPI

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
        f"customers/{CUSTOMER}/messages": {"phone_number_id": PHONE_ID, "text": "hello"},
    }
    for path, body in seeds.items():
        httpx.post(f"{url}/_sim/{path}", json=body).raise_for_status()
    return url


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
