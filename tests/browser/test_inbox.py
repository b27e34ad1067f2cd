"""The agent's day in a real browser: live inbound, reply, ticks, the 24-hour rule,
reconnect catch-up, phone width."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import APIResponse, Page, Route, WebSocketRoute, expect

from runtime.demo import AGENT_EMAIL
from runtime.whatsapp import webhooks
from tests.browser.conftest import PHONE, PHONE_NUMBER_ID, Demo, sign_in


def open_conversation(page: Page, name: str, last_text: str | None = None) -> None:
    item = page.locator(".conv-items a", has_text=name)
    if last_text is not None:  # the list has rendered the latest event: no re-render race
        expect(item).to_contain_text(last_text)
    item.click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_message_arrives_live_reply_and_ticks_reach_read(demo: Demo, new_page, shots) -> None:
    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    expect(page.get_by_role("link", name="Inbox")).to_have_attribute("aria-current", "page")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    demo.customer_writes("6281200000001", "Hello, where is my order?", "Budi Santoso")
    item = page.locator(".conv-items a", has_text="Budi Santoso")
    expect(item).to_contain_text("Hello, where is my order?")
    expect(item.locator(".badge")).to_have_text("1")
    shots(page, "inbox-list")

    item.click()
    expect(page.locator(".msg.inbound")).to_contain_text(["Hello, where is my order?"])
    expect(item.locator(".badge")).to_have_count(0)  # marked read
    reply = page.get_by_label("Reply")
    reply.fill("It left the warehouse this morning.")
    reply.press("Enter")
    sent = page.locator(".msg.outbound", has_text="It left the warehouse this morning.")
    expect(sent).to_be_visible()
    expect(reply).to_have_value("")
    expect(sent.get_by_role("img", name="Read")).to_be_visible(timeout=15_000)
    expect(item).to_contain_text("It left the warehouse")

    demo.customer_writes("6281200000001", "Great, thanks!", "Budi Santoso")
    expect(page.locator(".msg.inbound").last).to_have_text(re.compile("Great, thanks!"))
    expect(item.locator(".badge")).to_have_count(0)  # read while open
    assert page.evaluate("window.__sameDocument") is True
    expect(page.get_by_label("My status")).to_have_value("online")  # signing in = at work
    page.get_by_label("My status").select_option("away")
    expect(page.get_by_label("My status")).to_have_attribute("data-status", "away")  # saved
    shots(page, "inbox-chat")

    page.get_by_role("button", name="Contact").click()
    panel = page.get_by_role("complementary", name="Contact details")
    expect(panel).to_contain_text("+6281200000001")
    expect(panel.get_by_role("heading", name="Assignment history")).to_be_visible()
    expect(panel.locator(".history li")).not_to_have_count(0)
    expect(panel.locator("#consent-state")).to_have_text("unknown")
    demo.customer_writes("6281200000001", "STOP", "Budi Santoso")  # an opt-out keyword
    expect(panel.locator("#consent-state")).to_have_text("opted out")  # live


def test_closed_window_needs_a_template_with_parameters(demo: Demo, new_page, shots) -> None:
    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    demo.customer_writes("6281200000002", "Is my parcel coming?", "Rina")
    open_conversation(page, "Rina", "Is my parcel coming?")
    expect(page.locator("#window-state")).to_contain_text("Window open")

    demo.advance_clock(25 * 3600)  # the customer's 24-hour window closes
    page.get_by_label("Reply").fill("Sorry for the wait!")
    page.get_by_role("button", name="Send", exact=True).click()

    form = page.get_by_role("form", name="Send a template")
    expect(form.get_by_role("status")).to_contain_text("24-hour customer service window is closed")
    expect(page.locator("#window-state")).to_contain_text("Window closed")
    form.get_by_label("Template").select_option(label="order_update (en_US)")
    form.get_by_label("Body parameter {{1}}").fill("Rina")
    preview = page.locator("#template-preview")
    expect(preview).to_contain_text("Hi Rina, your order {{2}} has shipped.")
    form.get_by_label("Body parameter {{2}}").fill("INV-2042")
    expect(preview).to_contain_text("Hi Rina, your order INV-2042 has shipped.")
    shots(page, "inbox-template")
    form.get_by_role("button", name="Send template").click()

    sent = page.locator(".msg.outbound", has_text="INV-2042")
    expect(sent).to_contain_text("Template: order_update")
    expect(sent.get_by_role("img", name=re.compile("Sent|Delivered|Read"))).to_be_visible()
    # Still closed: the composer keeps offering templates only.
    expect(page.get_by_role("form", name="Send a template")).to_be_visible()
    expect(page.get_by_label("Reply")).to_have_count(0)


def test_reconnect_catches_up_on_missed_messages(demo: Demo, new_page) -> None:
    page = new_page()
    sockets: list[WebSocketRoute] = []
    blocked = {"on": False}

    def route(ws: WebSocketRoute) -> None:
        if blocked["on"]:
            ws.close(code=1011)  # the server is unreachable
            return
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws\?"), route)
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    demo.customer_writes("6281200000003", "First message", "Joko")
    open_conversation(page, "Joko")
    expect(page.locator(".msg.inbound")).to_have_count(1)
    expect(page.locator("body")).to_have_attribute("data-realtime", "live")

    blocked["on"] = True
    sockets[-1].close(code=1006)
    banner = page.get_by_role("status").filter(has_text="Connection lost")
    expect(banner).to_be_visible()
    demo.customer_writes("6281200000003", "Sent while you were offline", "Joko")
    demo.customer_writes("6281200000004", "A new customer meanwhile", "Maya")
    expect(banner).to_be_visible()
    expect(page.locator(".msg.inbound")).to_have_count(1)

    blocked["on"] = False  # the next retry reaches the server with the saved cursor
    expect(page.locator(".msg.inbound").last).to_have_text(
        re.compile("Sent while you were offline"), timeout=20_000
    )
    expect(banner).to_be_hidden()
    expect(page.locator(".conv-items a", has_text="Maya")).to_contain_text("A new customer")


def test_reconnect_before_any_event_resumes_from_the_cursor_ready_gave(
    demo: Demo, new_page
) -> None:
    """A socket that drops before any event came reconnects with ``ready``'s cursor (not
    without one, which starts at the head and leaves what came meanwhile to a reload)."""
    page = new_page()
    urls: list[str] = []
    sockets: list[WebSocketRoute] = []
    blocking = {"on": True}  # no event reaches the sockets opened before we drop one

    def route(ws: WebSocketRoute) -> None:
        blocked = blocking["on"]
        urls.append(ws.url)
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            if not (blocked and '"seq"' in str(message)):
                ws.send(message)

        server.on_message(forward)
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws\?"), route)
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    expect(page.locator("body")).to_have_attribute("data-realtime", "live")
    assert "cursor=" not in urls[0]  # the first socket of this browser starts at the head

    opened = len(urls)  # a loaded machine may have retried the first handshake already
    blocking["on"] = False
    sockets[-1].close(code=1006)
    demo.customer_writes("6281200000021", "Written while the socket was down", "Ratna Offline")
    expect(page.locator(".conv-items a", has_text="Ratna Offline")).to_contain_text("Written while")
    deadline = time.monotonic() + 20
    while len(urls) == opened:  # the reconnect (backoff ~0.5 s); Playwright routes it when pumped
        assert time.monotonic() < deadline, "no reconnect"
        page.wait_for_timeout(50)
    assert "cursor=" in urls[opened], "reconnected without a cursor"


def test_a_list_answer_read_before_a_live_event_does_not_drop_it(demo: Demo, new_page) -> None:
    """The list's answer is read by the server before a new conversation's event, but the
    event reaches the browser first: the answer must not wipe what the event brought."""
    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    held: list[tuple[Route, APIResponse]] = []

    def hold(route: Route) -> None:
        held.append((route, route.fetch()))  # read now, answered later

    # Only the load the filter starts: the one sign-in's `ready` started may still be on its way
    page.route(lambda url: "/api/conversations?" in url and "status=open" in url, hold, times=1)
    page.get_by_label("Status", exact=True).select_option("open")  # a fresh list load
    deadline = time.monotonic() + 10
    while not held:  # the handler runs while Playwright is pumped
        assert time.monotonic() < deadline, "the list load never went out"
        page.wait_for_timeout(50)

    demo.customer_writes("6281200000031", "Written during a slow list load", "Lina Slow")
    item = page.locator(".conv-items a", has_text="Lina Slow")
    expect(item).to_contain_text("Written during a slow list load")  # the live event
    item.evaluate("el => { el.dataset.beforeAnswer = '1'; }")

    route, answer = held[0]
    route.fulfill(response=answer)
    expect(page.locator(".conv-items a[data-before-answer]")).to_have_count(0)  # re-rendered
    expect(item).to_contain_text("Written during a slow list load")
    page.unroute_all()


@pytest.mark.parametrize(
    ("change", "wa_id", "name"),
    [
        ("resolved", "6281200000032", "Hana Resolved"),
        ("labelled", "6281200000033", "Hana Labelled"),
    ],
)
def test_an_opened_conversations_answer_read_before_a_live_event_does_not_undo_it(
    demo: Demo, new_page, change: str, wa_id: str, name: str
) -> None:
    """Opening a conversation: its answer is read before the conversation is resolved (or
    labelled), but the event reaches the browser first. The header must keep what it brought."""
    from runtime.demo import ADMIN_EMAIL

    admin = demo.token(ADMIN_EMAIL, demo.admin_password)
    label_name = f"Slow answer {uuid.uuid4().hex[:6]}"  # before sign-in: the inbox loads labels
    label = demo.call(admin, "POST", "/api/labels", json={"name": label_name})
    demo.customer_writes(wa_id, "Opened during a slow load", name)
    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    item = page.locator(".conv-items a", has_text=name)
    expect(item).to_contain_text("Opened during a slow load")
    path = f"/api/conversations/{item.locator('xpath=..').get_attribute('data-id')}"
    agent = demo.token(AGENT_EMAIL, demo.agent_password)
    demo.call(agent, "POST", f"{path}/read")  # opening it marks nothing read: that answer
    expect(item.locator(".badge")).to_have_count(0)  # would bring the news on its own
    held: list[tuple[Route, APIResponse]] = []

    def hold(route: Route) -> None:
        held.append((route, route.fetch()))  # read now (open, unlabelled), answered later

    page.route(re.compile(rf"{path}$"), hold, times=1)
    item.click()
    deadline = time.monotonic() + 10
    while not held:  # the handler runs while Playwright is pumped
        assert time.monotonic() < deadline, "the conversation load never went out"
        page.wait_for_timeout(50)

    header = page.locator(".chat-header")
    if change == "resolved":
        demo.call(agent, "PATCH", path, json={"status": "resolved"})
        newer = header.get_by_role("button", name="Reopen")
    else:
        demo.call(agent, "PUT", f"{path}/labels/{label['id']}")
        newer = header.get_by_role("button", name=f"Remove label {label_name}")
    expect(newer).to_be_visible()  # the live event
    header.get_by_role("heading", name=name).evaluate("el => { el.dataset.beforeAnswer = '1'; }")

    route, answer = held[0]
    route.fulfill(response=answer)
    expect(header.locator("[data-before-answer]")).to_have_count(0)  # re-rendered
    expect(newer).to_be_visible()
    page.unroute_all()


def test_phone_width_shows_one_pane_at_a_time(demo: Demo, new_page, shots) -> None:
    # a name no other browser test uses: list items are matched by text, and a template
    # preview elsewhere says "Hi Dewi"
    page = new_page(PHONE)
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    demo.customer_writes("6281200000005", "Halo kak, stok masih ada?", "Wening Ponsel")
    item = page.locator(".conv-items a", has_text="Wening Ponsel")
    expect(item).to_be_visible()
    shots(page, "phone-list")
    item.click()
    expect(page.get_by_role("heading", name="Wening Ponsel")).to_be_visible()
    expect(page.locator(".conv-list")).to_be_hidden()
    shots(page, "phone-chat")
    page.get_by_role("button", name="Back to the conversation list").click()
    expect(page.locator(".conv-list")).to_be_visible()
    expect(page.locator(".chat")).to_be_hidden()


def test_switching_the_sender_opens_that_numbers_conversation(demo: Demo, new_page) -> None:
    from runtime.demo import ADMIN_EMAIL

    admin = demo.token(ADMIN_EMAIL, demo.admin_password)
    demo.http.post("/simulator/_sim/phone_numbers", json={
        "id": "106540352242999", "display_phone_number": "6281100000999",
        "waba_id": "102290129340398", "access_token": "EAAG-second-number",
        "verified_name": "Demo Shop Jakarta",
    }).raise_for_status()  # fmt: skip
    second = demo.call(admin, "POST", "/api/senders", json={
        "phone_number_id": "106540352242999", "display_number": "+6281100000999",
        "waba_id": "102290129340398", "access_token": "EAAG-second-number",
        "verified_name": "Demo Shop Jakarta",
    })  # fmt: skip
    demo.customer_writes("6281200000055", "Which branch is open?", "Sari Switch")

    page = new_page()
    sign_in(page, ADMIN_EMAIL, demo.admin_password)
    page.get_by_role("tab", name="All").click()
    open_conversation(page, "Sari Switch", "Which branch is open?")
    expect(page.locator("#window-state")).to_have_text(re.compile("Window open"))
    page.get_by_label("Send from").select_option(value=second["id"])
    expect(page.get_by_title("Sender (business number)")).to_contain_text("0999")
    # A new number has no window with this customer yet: templates only.
    expect(page.locator("#window-state")).to_have_text("Window closed: templates only")


def test_messages_keep_metas_order_within_one_second(demo: Demo, new_page) -> None:
    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    number = webhooks.BusinessNumber("waba", PHONE_NUMBER_ID, "15550783881")
    sari, second = webhooks.Customer("6281200000009", "Wulan Batch"), demo.now()
    texts = [f"part {i} of my question" for i in range(5)]
    batch = webhooks.inbound_text(
        number, sari, message_id="wamid.ui-order-0", timestamp=second, body=texts[0]
    )
    value = batch["entry"][0]["changes"][0]["value"]
    value["messages"] += [
        webhooks.inbound_text(
            number, sari, message_id=f"wamid.ui-order-{i}", timestamp=second, body=text
        )["entry"][0]["changes"][0]["value"]["messages"][0]
        for i, text in enumerate(texts[1:], start=1)
    ]
    demo.deliver(batch)
    open_conversation(page, "Wulan Batch", texts[-1])
    expect(page.locator(".msg.inbound")).to_have_text([re.compile(t) for t in texts])
