"""Browser tests: the demo (api + simulator, SQLite) under uvicorn in a thread, driven by
Playwright through Debian's Chromium. No browser download: ``executable_path`` only.

Screenshots go to ``docs/screenshots/`` when ``SCRM_SCREENSHOTS=1`` (else to a temp dir).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from runtime.demo import WABA_ID
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
from tests.services import in_ci, require_chromium
from tests.support import free_port

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Locator,
        Page,
        expect,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - depends on the environment
    if in_ci():
        raise
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PHONE_NUMBER_ID = "106540352242922"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

expect.set_options(timeout=10_000)


@dataclass
class Demo:
    url: str
    admin_password: str
    agent_password: str
    app_secret: str
    http: httpx.Client

    def customer_writes(self, wa_id: str, text: str, name: str) -> None:
        r = self.http.post(
            f"/simulator/_sim/customers/{wa_id}/messages",
            json={"phone_number_id": PHONE_NUMBER_ID, "text": text, "name": name},
        )
        r.raise_for_status()

    def deliver(self, payload: dict[str, Any]) -> None:
        """POST a notification to the webhook signed as Meta signs it (a batch, a new shape)."""
        body = json.dumps(payload).encode()
        r = self.http.post(
            "/webhooks/whatsapp",
            content=body,
            headers={
                SIGNATURE_HEADER: sign(body, self.app_secret),
                "Content-Type": "application/json",
            },
        )
        r.raise_for_status()

    def sent_to_meta(
        self, matches: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> dict[str, Any]:
        """The first of our messages the simulator got that ``matches``, waiting for it
        (a send is queued first and leaves with the send worker)."""
        deadline = time.monotonic() + within
        while True:
            for message in self.http.get("/simulator/_sim/messages").json()["data"]:
                if matches(message):
                    return dict(message)
            if time.monotonic() > deadline:
                raise AssertionError(f"no such message reached the simulator within {within}s")
            time.sleep(0.1)

    def approved_template(
        self, token: str, name: str, category: str, components: list[dict[str, Any]]
    ) -> None:
        """A template Meta approved on the demo's WABA, synced (``token`` may sync)."""
        r = self.http.post(
            "/simulator/_sim/templates",
            json={"waba_id": WABA_ID, "name": name, "category": category, "components": components},
        )
        r.raise_for_status()
        self.call(token, "POST", "/api/templates/sync")

    def now(self) -> int:
        """The simulated Meta clock, in Unix seconds."""
        return int(self.http.get("/simulator/_sim/clock").json()["now"])

    def advance_clock(self, seconds: int) -> None:
        r = self.http.post("/simulator/_sim/clock/advance", json={"seconds": seconds})
        r.raise_for_status()

    def token(self, email: str, password: str) -> str:
        r = self.http.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        return str(r.json()["access_token"])

    def call(self, token: str, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        r.raise_for_status()
        return r.json() if r.content else None


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from runtime import demo as demo_module

    state = demo_module.prepare(tmp_path_factory.mktemp("demo"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        demo_module.build(state, url),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # lifespan (migrations, seeding) done, socket bound
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the demo server did not start")
        time.sleep(0.05)
    with httpx.Client(base_url=url, timeout=10) as http:
        secret = state.settings.whatsapp_app_secret.get_secret_value()
        yield Demo(url, state.admin_password, state.agent_password, secret, http)
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="package")  # Playwright's sync loop must end with this package
def browser() -> Iterator[Browser]:
    executable = require_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Browser, demo: Demo) -> Iterator[Callable[..., Page]]:
    """Pages in fresh contexts (separate storage = separate signed-in users)."""
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport, base_url=demo.url)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # type: ignore[attr-defined]
        return page

    yield make
    for context in contexts:
        for page in context.pages:
            assert not page.js_errors, f"JavaScript errors: {page.js_errors}"  # type: ignore[attr-defined]
        context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Page, str], None]:
    keep = os.environ.get("SCRM_SCREENSHOTS") == "1"
    directory = SCREENSHOTS if keep else tmp_path_factory.mktemp("shots")
    directory.mkdir(parents=True, exist_ok=True)

    def shoot(page: Page, name: str) -> None:
        page.screenshot(path=str(directory / f"{name}.png"))

    return shoot


def sign_in(page: Page, email: str, password: str, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # Live: the websocket has caught up and streams events from now on.
    expect(page.locator("body")).to_have_attribute("data-realtime", "live")


# The place of a LOCATION-header template, as views/place-inputs.js asks for it in the
# campaign builder and in the inbox's template composer.
MONAS = {
    "latitude": -6.1754,
    "longitude": 106.8272,
    "name": "Monas",
    "address": "Gambir, Jakarta Pusat",
}
# …as a preview shows that place
MONAS_SHOWN = "Header location: Monas, Gambir, Jakarta Pusat (-6.1754, 106.8272)"


def submit_a_latitude_past_the_pole(scope: Page | Locator, submit: Locator) -> None:
    """Latitude 91 (and a longitude with a decimal comma) is refused under the inputs."""
    place = scope.locator("fieldset.header-location")
    expect(place.locator("legend")).to_have_text("Header location")
    latitude, longitude = scope.get_by_label("Latitude"), scope.get_by_label("Longitude")
    latitude.fill("91")
    longitude.fill("106,8272")  # as Indonesian writes it: read as 106.8272
    submit.click()
    expect(place.get_by_role("alert")).to_have_text(
        "Give the latitude as a number from -90 to 90 (e.g. -6.1754)."
    )
    expect(latitude).to_have_attribute("aria-invalid", "true")
    expect(longitude).to_have_attribute("aria-invalid", "false")


def correct_the_place_to_monas(scope: Page | Locator) -> None:
    """The latitude corrected (checked again as it is typed), Monas's name and address."""
    latitude = scope.get_by_label("Latitude")
    latitude.fill(str(MONAS["latitude"]))
    expect(scope.locator("fieldset.header-location").get_by_role("alert")).to_be_hidden()
    expect(latitude).to_have_attribute("aria-invalid", "false")
    scope.get_by_label("Place name (optional)").fill(str(MONAS["name"]))
    scope.get_by_label("Address (optional)").fill(str(MONAS["address"]))
