"""The agent toolkit in a real browser (canned responses, a note with a mention that
notifies live, never sent to Meta) and the inbox in Bahasa Indonesia."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from playwright.sync_api import Page, Route, expect

from runtime.demo import ADMIN_EMAIL, AGENT_EMAIL
from tests.browser.conftest import Demo, sign_in

PASSWORD = "correct horse battery staple"


def _new_agent(demo: Demo, name: str, role: str) -> str:
    """An agent of the demo tenant with a built-in role; returns its e-mail."""
    admin = demo.token(ADMIN_EMAIL, demo.admin_password)
    roles: list[dict[str, Any]] = demo.call(admin, "GET", "/api/roles")
    email = f"{uuid.uuid4().hex[:8]}@demo.example"
    demo.call(
        admin,
        "POST",
        "/api/agents",
        json={
            "email": email,
            "name": name,
            "password": PASSWORD,
            "role_id": next(r["id"] for r in roles if r["name"] == role),
            "status": "online",
        },
    )
    return email


def _open(page: Page, name: str, last_text: str) -> None:
    item = page.locator(".conv-items a", has_text=name)
    expect(item).to_contain_text(last_text)
    item.click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_canned_response_and_a_note_that_mentions_someone(demo: Demo, new_page, shots) -> None:
    admin = demo.token(ADMIN_EMAIL, demo.admin_password)
    demo.call(
        admin,
        "POST",
        "/api/canned-responses",
        json={
            "scope": "tenant",
            "shortcut": "thanks",
            "body": "Thanks {{contact.name}}, {{agent.name}} here.",
        },
    )
    # Rudi is not assigned the conversation (agent role: sees only his own) yet hears of it.
    rudi_email = _new_agent(demo, "Rudi Hartono", "agent")
    rudi = new_page()
    sign_in(rudi, rudi_email, PASSWORD)

    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    demo.customer_writes("6281299900001", "Halo, ada promo?", "Sari Wulandari")
    _open(page, "Sari Wulandari", "Halo, ada promo?")

    reply = page.get_by_label("Reply")
    reply.fill("/thanks")
    expect(page.get_by_role("listbox", name="Suggestions")).to_contain_text("/thanks")
    reply.press("Tab")
    expect(reply).to_have_value("Thanks Sari Wulandari, Siti (agent) here.")
    reply.press("Enter")
    expect(page.locator(".msg.outbound", has_text="Thanks Sari Wulandari")).to_be_visible()

    page.get_by_label("Internal note").check()
    reply.fill("@Ru")
    page.get_by_role("button", name="@Rudi Hartono").click()
    expect(reply).to_have_value("@Rudi Hartono ")
    reply.press_sequentially("please call her back about the refund")
    reply.press("Enter")
    note = page.locator(".msg.note", has_text="please call her back")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Internal note by Siti (agent)")
    expect(reply).to_have_value("")

    toast = rudi.locator(".toast", has_text="You were mentioned in a note on Sari Wulandari.")
    expect(toast).to_be_visible()
    shots(page, "inbox-toolkit")

    # Meta never saw the note: the simulator holds the reply only.
    demo.sent_to_meta(lambda m: "Thanks Sari Wulandari" in str(m["body"]))
    sent = demo.http.get("/simulator/_sim/messages").json()["data"]
    assert not any("call her back" in str(m["body"]) for m in sent)


def test_a_language_picked_while_the_view_loads_reaches_the_top_bar(demo: Demo, new_page) -> None:
    """The agent picks a language after the top bar is drawn but before the first view's
    module has loaded (a slow network, a loaded machine): the bar is drawn again in it."""
    email = _new_agent(demo, "Rudi Setiawan", "supervisor")
    page = new_page()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # answered below

    page.route(lambda url: url.endswith("/views/inbox.js"), hold, times=1)
    sign_in(page, email, PASSWORD)  # the bar is up
    deadline = time.monotonic() + 10
    while not held:  # the handler runs while Playwright is pumped
        assert time.monotonic() < deadline, "the inbox's module was never asked for"
        page.wait_for_timeout(50)
    page.locator("#topbar").get_by_label("Language").select_option("id")
    held[0].continue_()
    expect(page.get_by_role("tablist", name="Tampilan percakapan")).to_be_visible()
    expect(page.get_by_role("link", name="Kotak masuk")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("button", name="Keluar")).to_be_visible()
    page.unroute_all()


def test_the_inbox_in_bahasa_indonesia(demo: Demo, new_page, shots) -> None:
    email = _new_agent(demo, "Dewi Lestari", "supervisor")
    demo.customer_writes("6281299900002", "Apakah barangnya ready?", "Bayu Pratama")
    page = new_page()
    sign_in(page, email, PASSWORD)
    page.locator("#topbar").get_by_label("Language").select_option("id")
    expect(page.get_by_role("link", name="Kotak masuk")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("button", name="Keluar")).to_be_visible()

    # A new sign-in elsewhere (nothing stored in that browser) comes up in the agent's choice.
    other = new_page()
    other.goto("/")
    other.get_by_label("Email").fill(email)
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_role("button", name="Keluar")).to_be_visible()
    expect(other.locator("html")).to_have_attribute("lang", "id")
    other.get_by_role("tab", name="Semua").click()
    _open(other, "Bayu Pratama", "Apakah barangnya ready?")
    expect(other.locator("#window-state")).to_have_text(re.compile("^Jendela terbuka sampai"))
    expect(other.get_by_label("Balasan", exact=True)).to_be_visible()
    shots(other, "inbox-chat-id")

    # API errors come back in Indonesian (Accept-Language), codes unchanged.
    other.get_by_role("link", name="Balasan & label").click()
    for saved in ("/salam", "/salam"):  # the second time, the shortcut is taken
        other.get_by_label("Pintasan").fill("salam")
        other.get_by_label("Teks").fill("Selamat pagi {{contact.name}}!")
        other.get_by_role("button", name="Tambah balasan cepat").click()
        expect(other.get_by_role("table", name="Balasan cepat")).to_contain_text(saved)
    expect(other.locator(".toast.error")).to_contain_text("Pintasan ini sudah dipakai")
    expect(other.get_by_role("link", name="Langsung ke isi")).to_be_attached()
    shots(other, "toolkit-id")
