"""Rich messages in a real browser: the ad referral, locations with a map link, contact
cards, Flow answers, reactions on their bubble (both ways), replies with a quote, and reply
buttons with the customer's choice; the rich strings in Bahasa Indonesia; templates with a
media or a place (LOCATION) header sent from the chat."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from playwright.sync_api import Locator, Page, Request, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from runtime.demo import ADMIN_EMAIL, AGENT_EMAIL
from tests.browser.conftest import (
    MONAS,
    MONAS_SHOWN,
    PHONE_NUMBER_ID,
    Demo,
    correct_the_place_to_monas,
    sign_in,
    submit_a_latitude_past_the_pole,
)
from tests.browser.test_inbox import open_conversation

CUSTOMER = "6281200000177"  # no other browser test writes from this number
NAME = "Ayu Rahmawati"  # unique in the shared demo: the list is matched by name
SEND_PATH = re.compile(r"/api/conversations/[^/]+/messages$")


def customer_sends(demo: Demo, kind: str, content: Any = None, **extra: Any) -> str:
    r = demo.http.post(
        f"/simulator/_sim/customers/{CUSTOMER}/messages",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "type": kind,
            "name": NAME,
            "content": content,
            **extra,
        },
    )
    r.raise_for_status()
    return str(r.json()["message_id"])


def meta_wamid_of(demo: Demo, text: str) -> str:
    """The wamid Meta gave our message with ``text`` (the simulator's record), once it is sent."""
    return str(demo.sent_to_meta(lambda m: m["body"].get("text", {}).get("body") == text)["id"])


def meta_reaction_wamid(demo: Demo, target_wamid: str, emoji: str) -> str:
    """The wamid Meta gave our reaction ``emoji`` to ``target_wamid``, once it is sent."""
    reaction = {"message_id": target_wamid, "emoji": emoji}
    return str(demo.sent_to_meta(lambda m: m["body"].get("reaction") == reaction)["id"])


def pick_reaction(bubble: Locator, emoji: str, within: float = 15.0) -> None:
    """Pick ``emoji`` in ``bubble``'s reaction picker. The picker closes whenever the bubble is
    drawn again (an event about it, e.g. our last reaction's status): open it again until
    the pick lands."""
    deadline = time.monotonic() + within
    while True:
        bubble.get_by_role("button", name="React", exact=True).click()
        try:
            bubble.get_by_role("button", name=f"React with {emoji}").click(timeout=1_000)
            return
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise


def test_rich_messages_in_the_chat(demo: Demo, new_page, shots) -> None:
    page: Page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    referral = {
        "source_url": "https://fb.me/promo",
        "source_type": "ad",
        "source_id": "77",
        "headline": "Diskon Desember",
        "body": "20% semua sepatu",
    }
    first_wamid = customer_sends(demo, "text", text="Saya lihat iklannya", referral=referral)
    open_conversation(page, NAME, "Saya lihat iklannya")
    expect(page.locator(".referral")).to_contain_text("Diskon Desember")

    customer_sends(
        demo,
        "location",
        {
            "latitude": -6.175392,
            "longitude": 106.827153,
            "name": "Monas",
            "address": "Jakarta Pusat",
        },
    )
    customer_sends(
        demo,
        "contacts",
        [{"name": {"formatted_name": "Siti Aminah"}, "phones": [{"phone": "+62 812 0000 1111"}]}],
    )
    customer_sends(
        demo,
        "interactive",
        {
            "type": "nfm_reply",
            "nfm_reply": {
                "name": "flow",
                "body": "Sent",
                "response_json": '{"size": "42", "colour": "hitam"}',
            },
        },
    )
    location = page.locator(".rich.location")
    expect(location.get_by_role("link", name="Open in OpenStreetMap")).to_have_attribute(
        "href",
        "https://www.openstreetmap.org/?mlat=-6.175392&mlon=106.827153#map=16/-6.175392/106.827153",
    )
    expect(page.locator(".rich.contacts")).to_contain_text("+62 812 0000 1111")
    expect(page.locator(".rich.flow dd")).to_have_text(["42", "hitam"])

    first = page.locator(".msg.inbound", has_text="Saya lihat iklannya")
    first.get_by_role("button", name="React").click()
    first.get_by_role("button", name="React with 👍").click()
    expect(first.locator(".reaction.business")).to_have_text("👍")
    pick_reaction(first, "👍")  # ours already: removes it
    demo.http.post(  # Meta accepts the removal, then refuses it after all
        f"/simulator/_sim/messages/{meta_reaction_wamid(demo, first_wamid, '')}/statuses",
        json={"statuses": ["failed"], "error_code": 131026},
    ).raise_for_status()
    expect(first.locator(".reaction.refused")).to_contain_text(
        "WhatsApp refused to remove your reaction:"
    )
    expect(first.locator(".reaction.business")).to_have_text("👍")  # still there at Meta

    first.get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator(".replying")).to_contain_text("Saya lihat iklannya")
    page.get_by_label("Reply", exact=True).fill("Masih berlaku sampai akhir bulan")
    page.get_by_label("Reply", exact=True).press("Enter")
    answer = page.locator(".msg.outbound", has_text="Masih berlaku sampai akhir bulan")
    expect(answer.locator(".quote")).to_contain_text("Saya lihat iklannya")
    expect(answer.get_by_role("img", name="Read")).to_be_visible(timeout=15_000)

    bubbles = page.locator(".msg")
    count = bubbles.count()
    wamid = meta_wamid_of(demo, "Masih berlaku sampai akhir bulan")
    customer_sends(demo, "reaction", {"message_id": wamid, "emoji": "❤️"})
    expect(answer.locator(".reaction.customer")).to_have_text("❤️")
    customer_sends(demo, "reaction", {"message_id": wamid, "emoji": ""})
    expect(answer.locator(".reaction.customer")).to_have_count(0)
    expect(bubbles).to_have_count(count)  # reactions never became bubbles

    answer.get_by_role("button", name="React").click()
    answer.get_by_role("button", name="React with 🙏").click()
    expect(answer.locator(".reaction.business")).to_have_text("🙏")
    reaction = meta_reaction_wamid(demo, wamid, "🙏")
    demo.http.post(  # Meta refuses it after all: the status webhook says failed
        f"/simulator/_sim/messages/{reaction}/statuses",
        json={"statuses": ["failed"], "error_code": 131026},
    ).raise_for_status()
    expect(answer.locator(".reaction.business")).to_have_count(0)
    refused = answer.locator(".reaction.refused")
    expect(refused).to_contain_text("WhatsApp refused your reaction:")
    expect(refused).to_contain_text("#131026")
    expect(refused.locator("s")).to_have_text("🙏")

    page.get_by_role("button", name="Buttons or list").click()
    form = page.get_by_role("form", name="Send buttons or a list")
    form.get_by_label("Message").fill("Ukuran berapa?")
    form.get_by_label("Option 1").fill("41")
    form.get_by_label("Option 2").fill("42")
    form.get_by_role("button", name="Send").click()
    expect(page.locator(".msg.outbound .rich.interactive")).to_contain_text("Ukuran berapa?")
    customer_sends(
        demo,
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "opt-2", "title": "42"}},
    )
    expect(page.locator(".msg.inbound .rich.choice").last).to_contain_text("Chose: 42")
    shots(page, "inbox-rich")

    page.get_by_role("button", name="Use a template").click()
    form = page.get_by_role("form", name="Send a template")
    form.get_by_label("Template").select_option(label="promo_december (en_US)")
    form.get_by_label("Header image (link)").fill("https://cdn.example/december.png")
    for n, value in enumerate(("Dewi", "20%", "31 December"), start=1):
        form.get_by_label(f"Body parameter {{{{{n}}}}}").fill(value)
    form.get_by_label("Button “Shop now”: end of its link").fill("dewi")
    form.get_by_label("Coupon code for button 2").fill("DES20")
    form.get_by_role("button", name="Send template").click()
    promo = page.locator(".msg.outbound", has_text="Template: promo_december")
    expect(promo).to_contain_text("Hi Dewi, 20% off everything until 31 December!")
    expect(promo.get_by_role("img", name=re.compile("Sent|Delivered|Read"))).to_be_visible()
    sent = demo.http.get("/simulator/_sim/messages").json()["data"]
    components = next(
        m["body"]["template"]["components"]
        for m in sent
        if m["body"].get("template", {}).get("name") == "promo_december"
    )
    assert components[0]["parameters"][0]["image"]["link"] == "https://cdn.example/december.png"
    assert [c.get("sub_type") for c in components[2:]] == ["url", "copy_code"]

    page.evaluate("localStorage.setItem('scrm.locale', 'id')")
    page.reload()
    expect(page.locator(".rich.location a")).to_have_text("Buka di OpenStreetMap")
    expect(first.locator(".reaction.business")).to_have_text("👍")  # as stored, after a reload
    expect(first.locator(".reaction.refused")).to_contain_text("WhatsApp menolak menghapus")
    expect(page.locator(".msg.inbound .rich.choice").last).to_contain_text("Memilih: 42")
    page.evaluate("localStorage.setItem('scrm.locale', 'en')")


def test_composer_sends_a_location_header_template(demo: Demo, new_page) -> None:
    admin = demo.token(ADMIN_EMAIL, demo.admin_password)
    suffix = uuid.uuid4().hex[:6]
    template = f"pickup_point_{suffix}"  # no other test sends it
    demo.approved_template(admin, template, "UTILITY", [
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BODY", "text": "Hi {{1}}, your parcel waits here."}])  # fmt: skip
    phone = f"62812{uuid.uuid4().int % 10**7:07d}"
    name = f"Sekar Pickup {suffix}"  # the chat list is matched by name: no other test's
    demo.customer_writes(phone, "Where do I pick it up?", name)  # the window is open

    page: Page = new_page()
    posted: list[dict[str, Any]] = []  # every message the page asks the API to send

    def record_send(request: Request) -> None:
        if request.method == "POST" and SEND_PATH.search(request.url):
            posted.append(request.post_data_json)

    page.on("request", record_send)
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    open_conversation(page, name, "Where do I pick it up?")
    page.get_by_role("button", name="Use a template").click()
    form = page.get_by_role("form", name="Send a template")
    form.get_by_label("Template").select_option(label=f"{template} (en_US)")
    form.get_by_label("Body parameter {{1}}").fill("Sekar")
    send = form.get_by_role("button", name="Send template")
    submit_a_latitude_past_the_pole(form, send)
    place = page.locator("#template-preview .header-preview")
    expect(place).to_have_count(0)  # no place to show while the latitude is wrong
    correct_the_place_to_monas(form)
    expect(place).to_contain_text(MONAS_SHOWN)
    send.click()
    sent = page.locator(".msg.outbound", has_text=f"Template: {template}")
    expect(sent).to_contain_text("Hi Sekar, your parcel waits here.")
    expect(sent.get_by_role("img", name=re.compile("Sent|Delivered|Read"))).to_be_visible()

    assert posted == [  # one send, the good one: the bad latitude never left the form
        {"type": "template", "template": {"name": template, "language": "en_US", "parameters": {
            "body": ["Sekar"], "header": [{"type": "location", **MONAS}]}}}
    ]  # fmt: skip
    meta = demo.sent_to_meta(lambda m: m["to"] == phone)
    header, _ = meta["body"]["template"]["components"]
    assert header == {"type": "header", "parameters": [{"type": "location", "location": MONAS}]}
    to_customer = demo.http.get("/simulator/_sim/messages").json()["data"]
    assert [m["id"] for m in to_customer if m["to"] == phone] == [meta["id"]]
