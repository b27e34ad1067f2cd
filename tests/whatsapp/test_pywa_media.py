"""pywa (a third-party SDK) uploads, looks up, downloads and sends media through the
simulator over a real socket, and gets Meta's refusals where Meta refuses."""

from __future__ import annotations

import hashlib

import httpx
import pytest
import pywa  # a declared test dependency: missing must fail, never skip
import pywa.errors as pywa_errors

from runtime.whatsapp.media import MB
from runtime.whatsapp.simulator.media import tiny_png

from .support import CUSTOMER, PHONE_ID, TOKEN
from .test_pywa import ToSimulator, simulator_url  # noqa: F401  (the seeded simulator)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _wa(url: str, token: str = TOKEN) -> pywa.WhatsApp:
    session = httpx.Client(transport=ToSimulator(url))
    return pywa.WhatsApp(phone_id=PHONE_ID, token=token, session=session, api_version="25.0")


def test_pywa_uploads_looks_up_and_downloads_media(simulator_url: str) -> None:  # noqa: F811
    wa = _wa(simulator_url)
    png = tiny_png()

    uploaded = wa.upload_media(media=png, mime_type="image/png", filename="shrub.png")
    found = wa.get_media_url(uploaded.id)

    assert found.id == uploaded.id
    assert (found.mime_type, found.file_size) == ("image/png", len(png))
    assert found.sha256 == hashlib.sha256(png).hexdigest()
    assert wa.get_media_bytes(found.url) == png


def test_pywa_sends_image_and_document_by_uploaded_id(simulator_url: str) -> None:  # noqa: F811
    wa = _wa(simulator_url)
    image = wa.upload_media(media=tiny_png(), mime_type="image/png", filename="a.png")
    document = wa.upload_media(media=PDF, mime_type="application/pdf", filename="inv.pdf")

    sent_image = wa.send_image(to=CUSTOMER, image=image.id, caption="The best succulent")
    sent_doc = wa.send_document(
        to=CUSTOMER, document=document.id, filename="inv.pdf", caption="Invoice"
    )

    sent = {m["id"]: m for m in httpx.get(f"{simulator_url}/_sim/messages").json()["data"]}
    assert sent[sent_image.id]["type"] == "image"
    assert sent[sent_image.id]["body"]["image"] == {"id": image.id, "caption": "The best succulent"}
    assert sent[sent_doc.id]["body"]["document"]["filename"] == "inv.pdf"


def test_simulator_refuses_media_as_meta_does(simulator_url: str) -> None:  # noqa: F811
    wa = _wa(simulator_url)
    with pytest.raises(pywa_errors.WhatsAppError) as html:
        wa.upload_media(
            media=b"<script>alert(1)</script>", mime_type="text/html", filename="x.html"
        )
    assert html.value.code == 100 and "text/html" in html.value.message

    with pytest.raises(pywa_errors.WhatsAppError) as too_big:
        wa.upload_media(media=b"\xff" * (5 * MB + 1), mime_type="image/jpeg", filename="big.jpg")
    assert too_big.value.code == 131053

    with pytest.raises(pywa_errors.WhatsAppError) as unknown:
        wa.get_media_url("999999999")
    assert unknown.value.code == 100

    with pytest.raises(pywa_errors.WhatsAppError) as unknown_send:
        wa.send_image(to=CUSTOMER, image="999999999")
    assert unknown_send.value.code == 100


def test_media_needs_the_right_token_and_a_fresh_url(simulator_url: str) -> None:  # noqa: F811
    wa = _wa(simulator_url)
    media = wa.upload_media(media=PDF, mime_type="application/pdf", filename="inv.pdf")
    url = wa.get_media_url(media.id).url

    with pytest.raises(pywa_errors.WhatsAppError) as bad_token:
        _wa(simulator_url, token="EAA-not-a-token").get_media_url(media.id)
    assert bad_token.value.code == 190
    meta = httpx.Client(transport=ToSimulator(simulator_url))  # the URL names Meta's host
    assert meta.get(url).status_code == 401  # no bearer token
    assert meta.get(url.replace("hash=", "hash=0"), headers=_bearer()).status_code == 404
    assert meta.get(url, headers=_bearer()).content == PDF
    httpx.post(f"{simulator_url}/_sim/clock/advance", json={"seconds": 301}).raise_for_status()
    assert meta.get(url, headers=_bearer()).status_code == 404  # the URL expired
    assert wa.get_media_bytes(wa.get_media_url(media.id).url) == PDF  # a new one works


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
