"""Media in a real browser: an agent sees a customer's photo and sends a document."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from playwright.sync_api import expect

from runtime.demo import AGENT_EMAIL
from runtime.whatsapp.simulator.media import tiny_png
from tests.browser.conftest import PHONE, PHONE_NUMBER_ID, Demo, sign_in
from tests.browser.test_inbox import open_conversation

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def customer_sends_photo(demo: Demo, wa_id: str, name: str, caption: str) -> None:
    r = demo.http.post(
        f"/simulator/_sim/customers/{wa_id}/messages",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "type": "image",
            "name": name,
            "caption": caption,
            "mime_type": "image/png",
            "data_base64": base64.b64encode(tiny_png((220, 40, 40), 48)).decode(),
        },
    )
    r.raise_for_status()


def test_agent_sees_an_inbound_photo_and_sends_a_document(demo: Demo, new_page, shots) -> None:
    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    customer_sends_photo(demo, "6281200000071", "Dewi Lestari", "Payment receipt")
    open_conversation(page, "Dewi Lestari", "Payment receipt")

    photo = page.locator(".msg.inbound .media-message[data-media-kind=image]")
    expect(photo).to_contain_text("Payment receipt")
    image = photo.locator("img.media-image")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function(
        "() => document.querySelector('.msg.inbound img.media-image')?.naturalWidth === 48"
    )

    page.get_by_label("Attach a file").set_input_files(
        {"name": "invoice-042.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_label("Caption (optional)").fill("Your invoice")
    page.get_by_role("button", name="Send file").click()

    sent = page.locator(".msg.outbound", has_text="Your invoice")
    expect(sent.locator(".media-download")).to_have_text("📄 invoice-042.pdf")
    expect(sent.get_by_role("img", name="Read")).to_be_visible(timeout=15_000)
    shots(page, "inbox-media")
    received = demo.http.get("/simulator/_sim/messages").json()["data"]
    documents = [m["body"]["document"] for m in received if m["type"] == "document"]
    assert {"caption": "Your invoice", "filename": "invoice-042.pdf"}.items() <= documents[
        -1
    ].items()


def test_customer_phone_sends_a_document_the_agent_downloads(demo: Demo, new_page, shots) -> None:
    phone = new_page(PHONE)
    phone.goto("/simulator/phone")
    expect(phone.get_by_label("Business number")).to_contain_text("Demo Shop")
    phone.get_by_label("My WhatsApp id").fill("6281200000072")
    phone.get_by_label("My name").fill("Agus Phone")
    phone.get_by_placeholder("Message").fill("My transfer slip")
    phone.get_by_label("Attach a photo or document").set_input_files(
        {"name": "slip.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    expect(phone.locator(".msg.me")).to_contain_text(["[document] slip.pdf My transfer slip"])
    shots(phone, "customer-phone-media")

    page = new_page()
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    open_conversation(page, "Agus Phone", "My transfer slip")
    download = page.locator(".msg.inbound .media-download")
    expect(download).to_have_text("📄 slip.pdf")
    with page.expect_download() as saved:
        download.click()
    assert saved.value.suggested_filename == "slip.pdf"
    assert Path(saved.value.path()).read_bytes() == PDF
