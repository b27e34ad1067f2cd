"""Media in and out against the in-process simulator, on both backends: a customer's files
are fetched in the background (retried, checked, verified) and served only to agents who may
read the conversation; an agent's files are checked against Meta's limits and sent through
the send queue (uploaded to Meta first)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.whatsapp.simulator.faults import ServerFault
from runtime.whatsapp.simulator.media import tiny_png
from tests.api.test_inbox import CUSTOMER, _conversations, _messages, _setup
from tests.api.whatsapp_world import WhatsAppWorld
from tests.conftest import make_settings
from tests.support import wait_for

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[WhatsAppWorld]:
    """The fetcher works only when a test runs a round (so a test sees each attempt)."""
    settings = make_settings(database_url, media_fetch_work=False, media_fetch_max_attempts=3)
    harness = WhatsAppWorld(settings, auto_statuses=())
    try:
        yield harness
    finally:
        await harness.close()


async def _customer_sends(
    world: WhatsAppWorld,
    sender: dict[str, Any],
    kind: str,
    data: bytes,
    mime_type: str,
    **extra: Any,
) -> None:
    await world.control(
        f"customers/{CUSTOMER}/messages",
        {
            "phone_number_id": sender["phone_number_id"],
            "type": kind,
            "name": "Budi",
            "data_base64": base64.b64encode(data).decode(),
            "mime_type": mime_type,
            **extra,
        },
    )


async def _inbound(world: WhatsAppWorld, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(conversation id, the newest inbound message) once it is stored."""
    # Generous: the webhook goes through the ingest pipeline, slow on a loaded machine.
    [conversation] = await wait_for(lambda: _conversations(world, headers), within=20.0)
    messages = await wait_for(lambda: _messages(world, headers, conversation["id"]), within=20.0)
    return conversation["id"], messages[0]


async def _fetched(
    world: WhatsAppWorld, headers: dict[str, str], conversation_id: str
) -> dict[str, Any]:
    await world.app.state.media_fetcher.fetch_round()
    return (await _messages(world, headers, conversation_id))[0]


async def test_inbound_image_is_fetched_verified_and_served_inline(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers  # the admin reads every conversation
    png = tiny_png((200, 30, 30))
    await _customer_sends(world, sender, "image", png, "image/png", caption="Payment receipt")
    conversation_id, message = await _inbound(world, headers)
    assert message["type"] == "image" and message["body"] == "Payment receipt"
    assert message["media"]["status"] == "pending" and message["media"]["url"] is None

    message = await _fetched(world, headers, conversation_id)

    media = message["media"]
    assert media["status"] == "stored" and media["size_bytes"] == len(png)
    assert media["mime_type"] == "image/png" and media["attempts"] == 1
    served = await world.client.get(media["url"], headers=headers)
    assert served.status_code == 200 and served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    assert "sandbox" in served.headers["content-security-policy"]


async def test_inbound_document_downloads_as_attachment_with_its_name(
    world: WhatsAppWorld,
) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers  # the admin reads every conversation
    await _customer_sends(
        world, sender, "document", PDF, "application/pdf", filename="Invoice 7 ü.pdf"
    )
    conversation_id, _ = await _inbound(world, headers)

    media = (await _fetched(world, headers, conversation_id))["media"]

    assert (media["filename"], media["status"]) == ("Invoice 7 ü.pdf", "stored")
    served = await world.client.get(media["url"], headers=headers)
    assert served.content == PDF and served.headers["content-type"] == "application/pdf"
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "Invoice%207%20%C3%BC.pdf" in disposition


async def test_inbound_voice_note_sha256_verified_and_plain_text_never_inline(
    world: WhatsAppWorld,
) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers  # the admin reads every conversation
    await _customer_sends(world, sender, "document", b"<script>x</script>", "text/plain")
    conversation_id, _ = await _inbound(world, headers)
    media = (await _fetched(world, headers, conversation_id))["media"]
    served = await world.client.get(media["url"], headers=headers)
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["content-disposition"].startswith("attachment;")

    voice = b"OggS" + bytes(range(200))
    await _customer_sends(world, sender, "audio", voice, "audio/ogg; codecs=opus")
    note = await wait_for(
        lambda: _first_of_type(world, headers, conversation_id, "audio"), within=10.0
    )
    assert note["media"]["sha256"] == base64.b64encode(hashlib.sha256(voice).digest()).decode()
    await world.app.state.media_fetcher.fetch_round()
    note = await _first_of_type(world, headers, conversation_id, "audio")
    assert note is not None and note["media"]["status"] == "stored"
    assert note["media"]["mime_type"] == "audio/ogg"


async def _first_of_type(
    world: WhatsAppWorld, headers: dict[str, str], conversation_id: str, kind: str
) -> dict[str, Any] | None:
    messages = await _messages(world, headers, conversation_id)
    return next((m for m in messages if m["type"] == kind), None)


async def test_failed_fetch_is_retried_with_backoff_and_visible(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers  # the admin reads every conversation
    await _customer_sends(world, sender, "image", tiny_png(), "image/png")
    conversation_id, message = await _inbound(world, headers)
    meta_media_id = message["payload"]["image"]["id"]  # the fetch's first call: GET /{media-id}
    world.engine.inject_fault(ServerFault(502), 1, object_id=meta_media_id)

    media = (await _fetched(world, headers, conversation_id))["media"]

    assert (media["status"], media["attempts"]) == ("pending", 1)
    assert "502" in media["error"] and media["next_attempt_at"] is not None
    assert (await world.client.get(f"/api/media/{media['id']}", headers=headers)).json()["error"][
        "code"
    ] == "media_not_ready"
    assert (await _fetched(world, headers, conversation_id))["media"]["attempts"] == 1  # not due
    await world.control("clock/advance", {"seconds": 3})
    media = (await _fetched(world, headers, conversation_id))["media"]
    assert (media["status"], media["attempts"], media["error"]) == ("stored", 2, None)


async def test_file_meta_would_refuse_fails_at_once_and_can_be_retried(
    world: WhatsAppWorld,
) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers  # the admin reads every conversation
    await _customer_sends(world, sender, "image", b"GIF89a....", "image/gif")
    conversation_id, _ = await _inbound(world, headers)

    media = (await _fetched(world, headers, conversation_id))["media"]

    assert (media["status"], media["attempts"]) == ("failed", 1)
    assert "image/gif" in media["error"]
    retried = await world.client.post(f"/api/media/{media['id']}/retry", headers=headers)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    again = await world.client.post(f"/api/media/{media['id']}/retry", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "media_not_failed"


async def test_media_endpoint_is_tenant_checked_and_permission_checked(
    world: WhatsAppWorld,
) -> None:
    ctx, agent, headers, sender = await _setup(world)
    await _customer_sends(world, sender, "image", tiny_png(), "image/png")
    conversation_id, _ = await _inbound(world, ctx.headers)
    url = (await _fetched(world, ctx.headers, conversation_id))["media"]["url"]
    assigned = await world.client.patch(
        f"/api/conversations/{conversation_id}",
        headers=ctx.headers,
        json={"assigned_agent_id": agent["id"]},
    )
    assert assigned.status_code == 200, assigned.text
    assert (await world.client.get(url, headers=headers)).status_code == 200  # assignee

    other_tenant = await world.new_tenant()
    _, colleague = await world.new_agent(ctx)  # same tenant, not assigned this conversation
    _, no_inbox = await world.new_agent(ctx, permissions=["contacts:read:all"])
    assert (await world.client.get(url, headers=other_tenant.headers)).status_code == 404
    assert (await world.client.get(url, headers=colleague)).status_code == 404
    refused = await world.client.get(url, headers=no_inbox)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert (await world.client.get(url)).status_code == 401
    assert (await world.client.get(url, headers=ctx.headers)).status_code == 200  # admin


async def _send_file(
    world: WhatsAppWorld,
    headers: dict[str, str],
    conversation_id: str,
    name: str,
    data: bytes,
    mime_type: str,
    **form: str,
) -> Any:
    return await world.client.post(
        f"/api/conversations/{conversation_id}/media",
        headers=headers,
        files={"file": (name, data, mime_type)},
        data=form,
    )


async def test_agent_sends_a_document_with_caption_through_the_queue(
    world: WhatsAppWorld,
) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers  # the admin reads every conversation
    await world.customer_says(sender, CUSTOMER, "Can I have the invoice?")
    conversation_id, _ = await _inbound(world, headers)

    response = await _send_file(
        world, headers, conversation_id, "invoice.pdf", PDF, "application/pdf", caption="Here"
    )

    assert response.status_code == 202, response.text
    queued = response.json()
    assert (queued["type"], queued["status"], queued["body"]) == ("document", "queued", "Here")
    assert queued["media"]["filename"] == "invoice.pdf"
    assert queued["media"]["status"] == "stored"
    await world.sent()
    [received] = [
        m
        for m in (await world.sim.get("/_sim/messages")).json()["data"]
        if m["callback_data"] == queued["id"]
    ]
    document = received["body"]["document"]
    assert (document["caption"], document["filename"]) == ("Here", "invoice.pdf")
    assert world.engine.media.items[document["id"]].data == PDF
    sent = await wait_for(lambda: _sent(world, headers, conversation_id))  # Meta's status
    assert sent["wamid"] == received["id"]
    own = await world.client.get(sent["media"]["url"], headers=headers)
    assert own.status_code == 200 and own.content == PDF


async def _sent(
    world: WhatsAppWorld, headers: dict[str, str], conversation_id: str
) -> dict[str, Any] | None:
    document = await _first_of_type(world, headers, conversation_id, "document")
    return document if document is not None and document["status"] == "sent" else None


async def test_agent_upload_is_held_to_metas_limits_and_the_window(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    headers = ctx.headers
    await world.customer_says(sender, CUSTOMER, "hi")
    conversation_id, _ = await _inbound(world, headers)

    html = await _send_file(world, headers, conversation_id, "x.html", b"<b>", "text/html")
    big = await _send_file(
        world, headers, conversation_id, "big.jpg", b"\xff" * (5 * 1024 * 1024 + 1), "image/jpeg"
    )
    voice_caption = await _send_file(
        world, headers, conversation_id, "v.ogg", b"OggS", "audio/ogg", caption="hi"
    )
    png_as_doc = await _send_file(
        world, headers, conversation_id, "a.png", tiny_png(), "image/png", kind="document"
    )

    assert (html.status_code, html.json()["error"]["code"]) == (422, "unsupported_media_type")
    assert (big.status_code, big.json()["error"]["code"]) == (413, "media_too_large")
    assert voice_caption.json()["error"]["code"] == "caption_not_allowed"
    assert png_as_doc.json()["error"]["code"] == "unsupported_media_type"
    _, reader = await world.new_agent(ctx, permissions=["inbox:read:all"])
    refused = await _send_file(world, reader, conversation_id, "a.png", tiny_png(), "image/png")
    assert refused.status_code == 403
    await world.control("clock/advance", {"seconds": 25 * 3600})
    closed = await _send_file(world, headers, conversation_id, "a.png", tiny_png(), "image/png")
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "template_required")
    assert not [m for m in await _messages(world, headers, conversation_id) if m["media"]]


async def test_a_failed_upload_is_retried_and_never_unknown(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "Send me the photo")
    conversation_id, _ = await _inbound(world, ctx.headers)
    # The upload (POST /{phone-number-id}/media, the number's first call since) answers a bare 502
    world.engine.inject_fault(ServerFault(502), 1, object_id=sender["phone_number_id"])

    queued = await _send_file(
        world, ctx.headers, conversation_id, "shrub.png", tiny_png(), "image/png"
    )

    assert queued.status_code == 202, queued.text
    sent = await wait_for(
        lambda: _status_of(world, ctx.headers, conversation_id, queued.json()["id"], "sent"),
        within=15.0,
    )
    assert sent["error_code"] is None
    [received] = [
        m
        for m in (await world.sim.get("/_sim/messages")).json()["data"]
        if m["callback_data"] == sent["id"]
    ]
    assert received["type"] == "image"  # sent once, after the upload was retried


async def _status_of(
    world: WhatsAppWorld,
    headers: dict[str, str],
    conversation_id: str,
    message_id: str,
    status: str,
) -> dict[str, Any] | None:
    for message in await _messages(world, headers, conversation_id):
        if message["id"] == message_id:
            assert message["status"] != "unknown"
            return message if message["status"] == status else None
    return None
