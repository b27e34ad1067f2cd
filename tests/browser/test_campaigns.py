"""Campaigns in a real browser: build one (live audience count, parameters from contact
fields with a fallback, each number's warm-up budget, preview and estimate), launch it,
watch its results and their chart over time."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from runtime.demo import ADMIN_EMAIL, DISPLAY_NUMBER
from tests.browser.conftest import (
    MONAS,
    MONAS_SHOWN,
    Demo,
    correct_the_place_to_monas,
    sign_in,
    submit_a_latitude_past_the_pole,
)


def open_builder(page: Page, demo: Demo, name: str, tag: str, audience: int, template: str) -> None:
    """Sign in as the admin, start a new campaign ``name`` for the contacts tagged ``tag``
    (the builder must count ``audience``) and pick ``template`` (its option's label)."""
    sign_in(page, ADMIN_EMAIL, demo.admin_password, "/#/campaigns")
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    page.get_by_role("button", name="New campaign").click()
    page.get_by_label("Campaign name").fill(name)
    page.get_by_label("Tag").fill(tag)
    expect(page.locator(".audience-count")).to_have_text(f"{audience} contacts")
    page.get_by_label("Template").select_option(label=template)


def open_builder_in_indonesian(page: Page, demo: Demo, name: str, template: str) -> Page:
    """The same as :func:`open_builder` with the interface in Bahasa Indonesia, any audience."""
    sign_in(page, ADMIN_EMAIL, demo.admin_password, "/#/campaigns")
    page.evaluate("localStorage.setItem('scrm.locale', 'id')")
    page.reload()
    page.get_by_role("button", name="Kampanye baru").click()
    page.get_by_label("Nama kampanye").fill(name)
    page.get_by_label("Template").select_option(label=template)
    return page


def test_build_launch_and_follow_a_campaign(demo: Demo, new_page, shots) -> None:
    token = demo.token(ADMIN_EMAIL, demo.admin_password)
    tag = f"ui-{uuid.uuid4().hex[:6]}"
    for n, name in enumerate(("Andi", "")):
        demo.call(
            token,
            "POST",
            "/api/contacts",
            json={"phone": f"+62813777{uuid.uuid4().int % 10**5:05d}{n}", "name": name,
                  "tags": [tag], "attributes": {"order": f"A-{n}"}},
        )  # fmt: skip

    senders = demo.call(token, "GET", "/api/senders")
    senders = senders["items"] if isinstance(senders, dict) else senders
    number = next(s for s in senders if s["display_number"].lstrip("+") == DISPLAY_NUMBER)
    demo.call(token, "PUT", f"/api/campaigns/warmups/{number['id']}", json={"day_one_budget": 250})

    page = new_page()
    open_builder(page, demo, "Shipping notice", tag, 2, "order_update (en_US, UTILITY)")
    page.get_by_label("Parameter {{1}}").select_option(label="Name")
    page.get_by_label("Fallback for {{1}}").fill("friend")
    page.get_by_label("Parameter {{2}}").select_option(label="Attribute…")
    page.get_by_label("Attribute key or text for {{2}}").fill("order")
    page.get_by_label("Sender").select_option(label=f"+{DISPLAY_NUMBER}")
    budget = page.locator(f".warmups li[data-sender='{number['id']}']")
    expect(budget).to_contain_text(re.compile(r"\d+ of 250 recipients left today \(ramping\)"))
    page.get_by_label("Window opens (contact-local)").fill("00:00")
    page.get_by_label("Window closes").fill("23:59")
    page.get_by_label("Weekdays only").uncheck()
    page.get_by_role("button", name="Save draft").click()

    result = page.locator(".builder-result")
    expect(result).to_contain_text("Estimate: 2 recipients")
    expect(result).to_contain_text("Hi Andi, your order A-0 has shipped.")
    expect(result).to_contain_text("Hi friend, your order A-1 has shipped.")
    result.scroll_into_view_if_needed()
    shots(page, "campaign-builder")

    result.get_by_role("link", name="Open campaign").click()
    expect(page.get_by_role("heading", name="Shipping notice")).to_be_visible()
    page.get_by_role("button", name="Launch").click()
    summary = page.locator(".results-summary")  # refreshed live as statuses arrive
    expect(summary).to_contain_text("Delivered 100.0%", timeout=30_000)
    expect(page.locator(".bar.pending .bar-value")).to_have_text("0")
    expect(page.locator("tbody tr")).to_have_count(2)
    legend = page.locator(".timeline-legend")  # the chart over time, drawn as SVG
    expect(legend).to_contain_text("Queued 2")
    expect(legend).to_contain_text("Delivered 2")
    chart = page.locator(".timeline-chart svg")
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Messages per 1 min from "))
    sent = chart.locator("g.series-sent")
    expect(sent.locator("polyline")).to_have_count(1)
    buckets = sent.locator("circle").count()
    assert buckets >= 1 and chart.locator("g.series-read circle").count() == buckets
    assert page.js_errors == []  # type: ignore[attr-defined]
    page.locator(".results-timeline").scroll_into_view_if_needed()
    shots(page, "campaign-results")

    page.goto("/#/campaigns")
    row = page.locator("tbody tr", has_text="Shipping notice")
    expect(row.get_by_label("Handed on")).to_have_attribute("value", "2")
    shots(page, "campaign-list")


def test_builder_takes_a_media_header_and_shows_it_per_recipient(demo: Demo, new_page) -> None:
    token = demo.token(ADMIN_EMAIL, demo.admin_password)
    tag = f"img-{uuid.uuid4().hex[:6]}"
    demo.call(
        token,
        "POST",
        "/api/contacts",
        json={"phone": f"+62813888{uuid.uuid4().int % 10**5:05d}", "name": "Dewi",
              "tags": [tag], "attributes": {"promo": "dewi"}},
    )  # fmt: skip

    page = new_page()
    open_builder(page, demo, "December promo", tag, 1, "promo_december (en_US, MARKETING)")
    header = page.locator("fieldset.header-media")
    expect(header.locator("legend")).to_have_text("Header image")
    page.get_by_label("Parameter {{1}}").select_option(label="Name")
    for n, text in ((2, "20%"), (3, "31 December")):
        page.get_by_label(f"Parameter {{{{{n}}}}}").select_option(label="Fixed text…")
        page.get_by_label(f"Attribute key or text for {{{{{n}}}}}").fill(text)
    page.get_by_label("Parameter button 0 “Shop now”").select_option(label="Attribute…")
    page.get_by_label("Attribute key or text for button 0 “Shop now”").fill("promo")
    page.get_by_label("Parameter button 2").select_option(label="Fixed text…")
    page.get_by_label("Attribute key or text for button 2").fill("DES20")
    page.get_by_label("Sender").select_option(label=f"+{DISPLAY_NUMBER}")

    save = page.get_by_role("button", name="Save draft")
    problem = header.get_by_role("alert")
    save.click()  # no media yet: refused in the form, nothing saved
    expect(problem).to_have_text("Give the header image: an https:// link or an uploaded media id.")
    media = page.get_by_label("Header image link or media id")
    media.fill("http://cdn.example/december.png")
    save.click()
    expect(problem).to_have_text(
        "The header image link must start with https:// (WhatsApp fetches it from there)."
    )
    expect(media).to_have_attribute("aria-invalid", "true")
    assert page.locator(".builder-result").inner_text() == ""

    media.fill("https://cdn.example/december.png")
    expect(problem).to_be_hidden()  # checked again as it is corrected
    save.click()
    result = page.locator(".builder-result")
    expect(result).to_contain_text("Hi Dewi, 20% off everything until 31 December!")
    row = result.locator("tbody tr", has_text="Dewi")
    expect(row.locator(".header-preview")).to_contain_text("Header image:")
    expect(row.locator(".header-preview a")).to_have_attribute(
        "href", "https://cdn.example/december.png"
    )

    campaigns = demo.call(token, "GET", "/api/campaigns", params={"limit": 50})["items"]
    saved = next(c for c in campaigns if c["name"] == "December promo")
    assert saved["parameters"]["header"] == [
        {"type": "image", "link": "https://cdn.example/december.png"}
    ]
    assert saved["parameters"]["buttons"] == [
        {"index": 0, "field": "attributes.promo"},
        {"index": 2, "text": "DES20"},
    ]

    page.get_by_role("button", name="New campaign").click()  # an uploaded media id instead
    expect(page.get_by_label("Campaign name")).to_have_value("")  # the new, empty builder
    page.get_by_label("Campaign name").fill("December promo, by media id")
    page.get_by_label("Template").select_option(label="promo_december (en_US, MARKETING)")
    page.get_by_label("Header image from").select_option(label="An uploaded media id")
    page.get_by_label("Header image link or media id").fill("1234 5678")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("fieldset.header-media").get_by_role("alert")).to_have_text(
        "A media id has no spaces."
    )


def test_builder_fills_a_text_header_and_quick_reply_payloads_per_recipient(
    demo: Demo, new_page, shots
) -> None:
    token = demo.token(ADMIN_EMAIL, demo.admin_password)
    template = f"parcel_slot_{uuid.uuid4().hex[:6]}"  # no other test sends it
    demo.approved_template(token, template, "UTILITY", [
        {"type": "HEADER", "format": "TEXT", "text": "Parcel {{1}} arrives"},
        {"type": "BODY", "text": "Hi {{1}}, pick a delivery slot."},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Fine"},
            {"type": "QUICK_REPLY", "text": "Move it"}]}])  # fmt: skip
    tag = f"slot-{uuid.uuid4().hex[:6]}"
    parcels = {}  # the number Meta sends to -> that recipient's parcel
    for n, name in enumerate(("Kirana Slot", "")):
        phone = f"62813999{uuid.uuid4().int % 10**5:05d}{n}"
        parcels[phone] = f"PX-{n}"
        demo.call(
            token,
            "POST",
            "/api/contacts",
            json={"phone": f"+{phone}", "name": name, "tags": [tag],
                  "attributes": {"parcel": f"PX-{n}"}},
        )  # fmt: skip
    demo.call(
        token,
        "POST",
        "/api/contacts",
        json={"phone": f"+62813998{uuid.uuid4().int % 10**6:06d}", "name": "Panjang Slot",
              "tags": [tag], "attributes": {"parcel": "L" * 60}},
    )  # fmt: skip  # a header over Meta's 60 characters: skipped

    page = new_page()
    open_builder(page, demo, "Parcel slots", tag, 3, f"{template} (en_US, UTILITY)")
    header = page.locator("fieldset.header-text")
    expect(header.locator("legend")).to_have_text("Header text: “Parcel {{1}} arrives”")
    page.get_by_label("Parameter header {{1}}").select_option(label="Attribute…")
    fine = page.get_by_label("Parameter button 0 “Fine” payload")
    expect(fine).to_have_value("none")  # optional: none unless chosen
    fine.select_option(label="Fixed text…")
    page.get_by_label("Parameter {{1}}").select_option(label="Name")
    page.get_by_label("Fallback for {{1}}").fill("friend")
    page.get_by_label("Parameter button 1 “Move it” payload").select_option(label="Attribute…")
    page.get_by_label("Attribute key or text for button 1 “Move it” payload").fill("my parcel")
    page.get_by_label("Sender").select_option(label=f"+{DISPLAY_NUMBER}")
    page.get_by_label("Window opens (contact-local)").fill("00:00")
    page.get_by_label("Window closes").fill("23:59")
    page.get_by_label("Weekdays only").uncheck()

    save = page.get_by_role("button", name="Save draft")
    save.click()  # each input with a problem says so; nothing saved
    expect(header.get_by_role("alert")).to_have_text("Give the attribute key for header {{1}}.")
    expect(page.get_by_label("Attribute key or text for header {{1}}")).to_have_attribute(
        "aria-invalid", "true"
    )
    alerts = page.locator(".params .param [role=alert]:visible")
    expect(alerts).to_have_text([
        "Give the text for button 0 “Fine” payload.",
        "The attribute key for button 1 “Move it” payload starts with a letter or _ and has "
        "only letters, digits, _ . or - (at most 64).",
    ])  # fmt: skip
    assert page.locator(".builder-result").inner_text() == ""
    page.locator("fieldset.header-text").scroll_into_view_if_needed()
    shots(page, "campaign-builder-checks")

    page.get_by_label("Attribute key or text for header {{1}}").fill("parcel")
    expect(header.get_by_role("alert")).to_be_hidden()  # checked again as it is corrected
    page.get_by_label("Attribute key or text for button 0 “Fine” payload").fill("SLOT-OK")
    page.get_by_label("Attribute key or text for button 1 “Move it” payload").fill("parcel")
    save.click()
    result = page.locator(".builder-result")
    expect(result).to_contain_text("Estimate: 3 recipients")
    expect(result.locator("tbody tr", has_text="Panjang Slot")).to_contain_text(
        "Skipped: with this contact's values the header is longer than WhatsApp allows."
    )
    for name, parcel, greeting in (("Kirana Slot", "PX-0", "Kirana Slot"), ("+", "PX-1", "friend")):
        row = result.locator("tbody tr", has_text=f"Parcel {parcel} arrives")
        expect(row).to_contain_text(name)
        expect(row.locator(".header-preview")).to_have_text(f"Parcel {parcel} arrives")
        expect(row).to_contain_text(f"Hi {greeting}, pick a delivery slot.")

    campaigns = demo.call(token, "GET", "/api/campaigns", params={"limit": 50})["items"]
    saved = next(c for c in campaigns if c["name"] == "Parcel slots")
    assert saved["parameters"]["header"] == [{"field": "attributes.parcel"}]
    assert saved["parameters"]["buttons"] == [
        {"index": 0, "text": "SLOT-OK"},
        {"index": 1, "field": "attributes.parcel"},
    ]

    result.get_by_role("link", name="Open campaign").click()
    page.get_by_role("button", name="Launch").click()
    for phone, parcel in parcels.items():
        sent = demo.sent_to_meta(
            lambda m, phone=phone: (
                m["to"] == phone and m["body"].get("template", {}).get("name") == template
            ),
            within=30.0,
        )
        head, _, fine_button, move_button = sent["body"]["template"]["components"]
        assert head == {"type": "header", "parameters": [{"type": "text", "text": parcel}]}
        assert [b["parameters"] for b in (fine_button, move_button)] == [
            [{"type": "payload", "payload": "SLOT-OK"}],
            [{"type": "payload", "payload": parcel}],  # per recipient
        ]
    assert page.js_errors == []  # type: ignore[attr-defined]

    # the same checks in Bahasa Indonesia
    indonesian = open_builder_in_indonesian(
        new_page(), demo, "Slot paket", f"{template} (en_US, UTILITY)"
    )
    indonesian.get_by_label("Parameter header {{1}}").select_option(label="Atribut…")
    indonesian.get_by_label("Parameter payload tombol 0 “Fine”").select_option(label="Teks tetap…")
    indonesian.get_by_role("button", name="Simpan draf").click()
    expect(indonesian.locator("fieldset.header-text [role=alert]")).to_have_text(
        "Isi kunci atribut untuk header {{1}}."
    )
    expect(indonesian.locator(".params [role=alert]:visible")).to_have_text(
        ["Isi teks untuk payload tombol 0 “Fine”."]
    )


def test_builder_takes_a_location_header_and_the_send_carries_it(demo: Demo, new_page) -> None:
    token = demo.token(ADMIN_EMAIL, demo.admin_password)
    template = f"store_visit_{uuid.uuid4().hex[:6]}"  # no other test sends it
    demo.approved_template(token, template, "MARKETING", [
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BODY", "text": "Hi {{1}}, our new store is open."}])  # fmt: skip
    tag = f"loc-{uuid.uuid4().hex[:6]}"
    phone = f"62813997{uuid.uuid4().int % 10**5:05d}"
    contact = {"phone": f"+{phone}", "name": "Laras Lokasi", "tags": [tag]}
    demo.call(token, "POST", "/api/contacts", json=contact)

    def sends_of_template() -> list[dict[str, object]]:
        messages = demo.http.get("/simulator/_sim/messages").json()["data"]
        return [m for m in messages if m["body"].get("template", {}).get("name") == template]

    page = new_page()
    open_builder(page, demo, "Store opening", tag, 1, f"{template} (en_US, MARKETING)")
    page.get_by_label("Parameter {{1}}").select_option(label="Name")
    page.get_by_label("Sender").select_option(label=f"+{DISPLAY_NUMBER}")
    page.get_by_label("Window opens (contact-local)").fill("00:00")
    page.get_by_label("Window closes").fill("23:59")
    page.get_by_label("Weekdays only").uncheck()

    save = page.get_by_role("button", name="Save draft")
    submit_a_latitude_past_the_pole(page, save)
    assert page.locator(".builder-result").inner_text() == ""
    campaigns = demo.call(token, "GET", "/api/campaigns", params={"limit": 50})["items"]
    assert not [c for c in campaigns if c["name"] == "Store opening"]  # nothing saved
    assert sends_of_template() == []  # nor sent

    correct_the_place_to_monas(page)
    save.click()
    result = page.locator(".builder-result")
    row = result.locator("tbody tr", has_text="Laras Lokasi")
    expect(row).to_contain_text("Hi Laras Lokasi, our new store is open.")
    preview = row.locator(".header-preview")
    expect(preview).to_contain_text(MONAS_SHOWN)
    expect(preview.get_by_role("link", name="Open in OpenStreetMap")).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=-6\.175400&mlon=106\.827200")
    )
    campaigns = demo.call(token, "GET", "/api/campaigns", params={"limit": 50})["items"]
    saved = next(c for c in campaigns if c["name"] == "Store opening")
    assert saved["parameters"]["header"] == [{"type": "location", **MONAS}]

    result.get_by_role("link", name="Open campaign").click()
    page.get_by_role("button", name="Launch").click()
    sent = demo.sent_to_meta(
        lambda m: m["to"] == phone and m["body"].get("template", {}).get("name") == template,
        within=30.0,
    )
    header, _ = sent["body"]["template"]["components"]
    assert header == {"type": "header", "parameters": [{"type": "location", "location": MONAS}]}
    assert page.js_errors == []  # type: ignore[attr-defined]

    # the labels and the check in Bahasa Indonesia
    indonesian = open_builder_in_indonesian(
        new_page(), demo, "Toko baru", f"{template} (en_US, MARKETING)"
    )
    expect(indonesian.locator("fieldset.header-location legend")).to_have_text("Lokasi header")
    indonesian.get_by_label("Lintang").fill("-6,1754")
    indonesian.get_by_label("Bujur").fill("timur")
    indonesian.get_by_role("button", name="Simpan draf").click()
    expect(indonesian.locator("fieldset.header-location [role=alert]")).to_have_text(
        "Isi bujur berupa angka dari -180 sampai 180 (mis. 106,8272)."
    )
