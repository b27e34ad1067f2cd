"""Campaigns in a real browser: build one (live audience count, parameters from contact
fields with a fallback, each number's warm-up budget, preview and estimate), launch it,
watch its results and their chart over time."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from runtime.demo import ADMIN_EMAIL, DISPLAY_NUMBER
from tests.browser.conftest import Demo, sign_in


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
    sign_in(page, ADMIN_EMAIL, demo.admin_password, "/#/campaigns")
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    page.get_by_role("button", name="New campaign").click()
    page.get_by_label("Campaign name").fill("Shipping notice")
    page.get_by_label("Tag").fill(tag)
    expect(page.locator(".audience-count")).to_have_text("2 contacts")
    page.get_by_label("Template").select_option(label="order_update (en_US, UTILITY)")
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
    sign_in(page, ADMIN_EMAIL, demo.admin_password, "/#/campaigns")
    page.get_by_role("button", name="New campaign").click()
    page.get_by_label("Campaign name").fill("December promo")
    page.get_by_label("Tag").fill(tag)
    expect(page.locator(".audience-count")).to_have_text("1 contacts")
    page.get_by_label("Template").select_option(label="promo_december (en_US, MARKETING)")
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
