"""The agent toolkit against the simulator: canned responses, internal notes with mentions,
labels and the inbox filter, Meta's typing indicator, the agent's locale."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from sqlalchemy import select

from runtime.bus.inprocess import InProcessBus
from runtime.domain.visibility import INBOX_ALL, personal_key
from runtime.models import Event
from runtime.relay import OutboxRelay
from tests.api.harness import TenantCtx
from tests.api.whatsapp_world import TOKEN, WhatsAppWorld
from tests.support import wait_for


def _customer() -> str:
    return f"6281{random.randrange(10**8, 10**9)}"


async def _conversation_with_customer(
    world: WhatsAppWorld, **contact: Any
) -> tuple[TenantCtx, dict[str, Any], dict[str, str], dict[str, Any], dict[str, Any]]:
    """A tenant, an agent holding a number, and a conversation its contact opened."""
    ctx = await world.new_tenant()
    agent, headers = await world.new_agent(ctx, status="online")
    sender = await world.add_sender(ctx, [agent["id"]])
    customer = _customer()
    created = await world.client.post(
        "/api/contacts", headers=ctx.headers, json={"phone": f"+{customer}", **contact}
    )
    assert created.status_code == 201, created.text
    assigned = await world.client.post(
        f"/api/contacts/{created.json()['id']}/assign",
        headers=ctx.headers,
        json={"agent_id": agent["id"]},
    )
    assert assigned.status_code == 200, assigned.text
    await world.customer_says(sender, customer, "Halo")

    async def opened() -> dict[str, Any] | None:
        items = (await world.client.get("/api/conversations", headers=headers)).json()["items"]
        return items[0] if items else None

    conversation = await wait_for(opened, within=5.0)
    return ctx, agent, headers, sender, conversation


async def _events(world: WhatsAppWorld, ctx: TenantCtx, keys: list[str]) -> list[dict[str, Any]]:
    """Every event of the tenant published so far that reaches a socket holding ``keys``."""
    bus = InProcessBus("fanout")
    frames: list[dict[str, Any]] = []
    subscription = await bus.subscribe(
        ctx.slug, "pod", lambda _t, b: frames.extend(json.loads(b.frame(i)) for i in range(len(b)))
    )
    await subscription.bind(keys)
    relay = OutboxRelay(world.app.state.sessionmaker, bus)
    while await relay.publish_pending():
        pass
    return frames


# ---- canned responses ------------------------------------------------------------------------


async def test_canned_responses_scopes_permissions_and_expansion(world: WhatsAppWorld) -> None:
    ctx, agent, headers, _, conversation = await _conversation_with_customer(
        world, name="Budi Santoso", attributes={"city": "Bandung"}
    )
    url = "/api/canned-responses"
    body = "Hi {{contact.name}} from {{ contact.city }}, {{agent.name}} here ({{contact.phone}})."

    refused = await world.client.post(
        url, headers=headers, json={"scope": "tenant", "shortcut": "hi", "body": body}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"

    tenant_wide = await world.client.post(
        url, headers=ctx.headers, json={"scope": "tenant", "shortcut": "hi", "body": "Hello!"}
    )
    assert tenant_wide.status_code == 201, tenant_wide.text
    assert tenant_wide.json()["scope"] == "tenant"
    again = await world.client.post(
        url, headers=ctx.headers, json={"scope": "tenant", "shortcut": "hi", "body": "Again"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "shortcut_taken"

    # The agent's own /hi (allowed: another scope) wins over the tenant's for the agent.
    mine = await world.client.post(
        url, headers=headers, json={"scope": "personal", "shortcut": "hi", "body": body}
    )
    assert mine.status_code == 201, mine.text
    expanded = await world.client.get(
        f"/api/conversations/{conversation['id']}/canned/hi", headers=headers
    )
    assert expanded.status_code == 200, expanded.text
    phone = conversation["contact"]["phone"]
    assert expanded.json()["text"] == f"Hi Budi Santoso from Bandung, Agent here ({phone})."
    assert expanded.json()["canned_response_id"] == mine.json()["id"]

    listed = (await world.client.get(url, headers=headers)).json()
    assert [(c["shortcut"], c["scope"]) for c in listed] == [("hi", "personal"), ("hi", "tenant")]
    # Another agent of the tenant sees only the tenant-wide one and cannot touch ours.
    _, other = await world.new_agent(ctx)
    assert [c["scope"] for c in (await world.client.get(url, headers=other)).json()] == ["tenant"]
    hidden = await world.client.delete(f"{url}/{mine.json()['id']}", headers=other)
    assert hidden.status_code == 404
    # An agent may not edit the tenant's either.
    edit = await world.client.patch(
        f"{url}/{tenant_wide.json()['id']}", headers=headers, json={"body": "mine now"}
    )
    assert edit.status_code == 403

    unknown = await world.client.post(
        url,
        headers=headers,
        json={"scope": "personal", "shortcut": "bad", "body": "Hi {{customer.name}}"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_placeholder"
    bad_shortcut = await world.client.post(
        url, headers=headers, json={"scope": "personal", "shortcut": "Has Space", "body": "x"}
    )
    assert bad_shortcut.status_code == 422
    assert bad_shortcut.json()["error"]["code"] == "validation_error"
    missing = await world.client.get(
        f"/api/conversations/{conversation['id']}/canned/nothing", headers=headers
    )
    assert missing.status_code == 404

    renamed = await world.client.patch(
        f"{url}/{mine.json()['id']}", headers=headers, json={"shortcut": "hello"}
    )
    assert renamed.status_code == 200, renamed.text
    deleted = await world.client.delete(f"{url}/{mine.json()['id']}", headers=headers)
    assert deleted.status_code == 204
    expanded = await world.client.get(
        f"/api/conversations/{conversation['id']}/canned/hi", headers=headers
    )
    assert expanded.json()["text"] == "Hello!"

    # Another tenant sees none of it.
    stranger = await world.new_tenant()
    assert (await world.client.get(url, headers=stranger.headers)).json() == []
    assert (
        await world.client.delete(f"{url}/{tenant_wide.json()['id']}", headers=stranger.headers)
    ).status_code == 404
    assert agent["id"]


# ---- notes -----------------------------------------------------------------------------------


async def test_note_is_never_sent_and_mentions_notify_live(world: WhatsAppWorld) -> None:
    ctx, agent, headers, sender, conversation = await _conversation_with_customer(world)
    supervisor, _ = await world.new_agent(ctx, role="agent")  # not assigned: cannot read it
    stranger_ctx = await world.new_tenant()
    outsider, _ = await world.new_agent(stranger_ctx)
    notes_url = f"/api/conversations/{conversation['id']}/notes"

    wrong = await world.client.post(
        notes_url,
        headers=headers,
        json={"body": "@someone look", "mention_agent_ids": [outsider["id"]]},
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "mention_unknown_agent"
    assert wrong.json()["error"]["details"] == {"agent_ids": [outsider["id"]]}

    note = await world.client.post(
        notes_url,
        headers=headers,
        json={"body": "@Agent please check the refund", "mention_agent_ids": [supervisor["id"]]},
    )
    assert note.status_code == 201, note.text
    assert note.json()["direction"] == "note"
    assert note.json()["wamid"] is None

    await world.sent()
    meta_side = (await world.sim.get("/_sim/messages")).json()["data"]
    assert [m for m in meta_side if m["phone_number_id"] == sender["phone_number_id"]] == []
    messages = (
        await world.client.get(f"/api/conversations/{conversation['id']}/messages", headers=headers)
    ).json()["items"]
    assert [(m["direction"], m["body"]) for m in messages][0] == (
        "note",
        "@Agent please check the refund",
    )

    frames = await _events(world, ctx, [personal_key(supervisor["id"]), INBOX_ALL])
    mention = [f for f in frames if f["type"] == "note.mention"]
    assert len(mention) == 1
    assert mention[0]["payload"]["conversation_id"] == conversation["id"]
    assert mention[0]["payload"]["note"]["body"] == "@Agent please check the refund"
    assert mention[0]["payload"]["author_agent_id"] == agent["id"]
    async with world.app.state.sessionmaker() as session:
        audiences = (
            await session.scalars(
                select(Event.audience).where(
                    Event.tenant_id == ctx.id, Event.type == "note.mention"
                )
            )
        ).all()
    assert audiences == [[personal_key(uuid.UUID(supervisor["id"]))]]
    # The note itself reaches those who read the conversation, as a message.
    created = [f["payload"]["message"]["id"] for f in frames if f["type"] == "message.created"]
    assert note.json()["id"] in created

    mentionable = (await world.client.get("/api/mentionable-agents", headers=headers)).json()
    assert supervisor["id"] in {a["id"] for a in mentionable}
    assert outsider["id"] not in {a["id"] for a in mentionable}


# ---- labels ----------------------------------------------------------------------------------


async def test_labels_catalogue_conversation_labels_and_filter(world: WhatsAppWorld) -> None:
    ctx, _, headers, _, conversation = await _conversation_with_customer(world)
    refused = await world.client.post("/api/labels", headers=headers, json={"name": "VIP"})
    assert refused.status_code == 403
    vip = await world.client.post(
        "/api/labels", headers=ctx.headers, json={"name": "VIP", "colour": "#dc2626"}
    )
    assert vip.status_code == 201, vip.text
    duplicate = await world.client.post("/api/labels", headers=ctx.headers, json={"name": "VIP"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "label_name_taken"
    bad_colour = await world.client.post(
        "/api/labels", headers=ctx.headers, json={"name": "Red", "colour": "red"}
    )
    assert bad_colour.status_code == 422
    refund = await world.client.post("/api/labels", headers=ctx.headers, json={"name": "Refund"})
    assert [
        label["name"] for label in (await world.client.get("/api/labels", headers=headers)).json()
    ] == ["Refund", "VIP"]

    base = f"/api/conversations/{conversation['id']}/labels"
    added = await world.client.put(f"{base}/{vip.json()['id']}", headers=headers)
    assert added.status_code == 200, added.text
    assert added.json()["label_ids"] == [vip.json()["id"]]
    assert (await world.client.put(f"{base}/{vip.json()['id']}", headers=headers)).json()[
        "label_ids"
    ] == [vip.json()["id"]]  # idempotent

    async def listed(label: dict[str, Any]) -> list[str]:
        r = await world.client.get(
            "/api/conversations", headers=headers, params={"label_id": label["id"]}
        )
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await listed(vip.json()) == [conversation["id"]]
    assert await listed(refund.json()) == []
    one = await world.client.get(f"/api/conversations/{conversation['id']}", headers=headers)
    assert one.json()["label_ids"] == [vip.json()["id"]]
    labels_events = [
        f["payload"]["label_ids"]
        for f in await _events(world, ctx, [INBOX_ALL])
        if f["type"] == "conversation.labels"
    ]
    assert labels_events[-1] == [vip.json()["id"]]

    removed = await world.client.delete(f"{base}/{vip.json()['id']}", headers=headers)
    assert removed.json()["label_ids"] == []
    assert await listed(vip.json()) == []

    stranger = await world.new_tenant()
    theirs = await world.client.post("/api/labels", headers=stranger.headers, json={"name": "VIP"})
    assert theirs.status_code == 201  # names are per tenant
    foreign = await world.client.put(f"{base}/{theirs.json()['id']}", headers=headers)
    assert foreign.status_code == 404
    assert (await world.client.get("/api/labels", headers=stranger.headers)).json()[0][
        "id"
    ] == theirs.json()["id"]


# ---- typing indicator ------------------------------------------------------------------------


async def test_typing_indicator_is_throttled_and_only_inside_the_window(
    world: WhatsAppWorld,
) -> None:
    _, _, headers, sender, conversation = await _conversation_with_customer(world)
    url = f"/api/conversations/{conversation['id']}/typing"
    first = await world.client.post(url, headers=headers)
    assert first.json() == {"indicated": True, "reason": None}
    [inbound] = [
        m
        for m in world.engine.state.inbound.values()
        if m.phone_number_id == sender["phone_number_id"]
    ]
    shown_at = inbound.typing_shown_at
    assert shown_at is not None
    assert inbound.read  # Meta marks the message read with the indicator

    assert (await world.client.post(url, headers=headers)).json() == {
        "indicated": False,
        "reason": "throttled",
    }
    assert inbound.typing_shown_at == shown_at  # Meta was not asked again

    await world.control("clock/advance", {"seconds": 21})
    assert (await world.client.post(url, headers=headers)).json()["indicated"] is True
    assert inbound.typing_shown_at is not None and inbound.typing_shown_at > shown_at

    await world.control("clock/advance", {"seconds": 24 * 3600})
    assert (await world.client.post(url, headers=headers)).json() == {
        "indicated": False,
        "reason": "window_closed",
    }


async def test_simulator_refuses_typing_indicators_meta_refuses(world: WhatsAppWorld) -> None:
    _, _, _, sender, _ = await _conversation_with_customer(world)
    [inbound] = [
        m
        for m in world.engine.state.inbound.values()
        if m.phone_number_id == sender["phone_number_id"]
    ]
    url = f"/v21.0/{sender['phone_number_id']}/messages"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    base = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound.id}
    for indicator in ({"type": "audio"}, {}, "text"):
        refused = await world.sim.post(
            url, headers=auth, json={**base, "typing_indicator": indicator}
        )
        assert refused.status_code == 400, indicator
        assert refused.json()["error"]["code"] == 100
    unknown = await world.sim.post(
        url,
        headers=auth,
        json={**base, "message_id": "wamid.unknown", "typing_indicator": {"type": "text"}},
    )
    assert unknown.json()["error"]["code"] == 131009
    assert inbound.typing_shown_at is None


# ---- locale and localized errors -------------------------------------------------------------


async def test_agent_locale_and_errors_in_the_requested_language(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    _, headers = await world.new_agent(ctx)
    assert (await world.client.get("/api/auth/me", headers=headers)).json()["locale"] is None
    chosen = await world.client.put("/api/me/locale", headers=headers, json={"locale": "id"})
    assert chosen.status_code == 200, chosen.text
    assert (await world.client.get("/api/auth/me", headers=headers)).json()["locale"] == "id"
    bad = await world.client.put("/api/me/locale", headers=headers, json={"locale": "fr"})
    assert bad.status_code == 422

    missing = "/api/conversations/00000000-0000-0000-0000-000000000000"
    english = await world.client.get(missing, headers=headers)
    indonesian = await world.client.get(
        missing, headers={**headers, "Accept-Language": "id-ID,id;q=0.9,en;q=0.8"}
    )
    assert english.json()["error"] == {
        "code": "not_found",
        "message": "Conversation not found",
        "details": None,
    }
    assert indonesian.json()["error"]["code"] == "not_found"
    assert indonesian.json()["error"]["message"] == "Percakapan tidak ditemukan."
    assert indonesian.headers["vary"] == "Accept-Language"
    preferring_english = await world.client.get(
        missing, headers={**headers, "Accept-Language": "id;q=0.5, en"}
    )
    assert preferring_english.json()["error"]["message"] == "Conversation not found"
    login = await world.client.post(
        "/api/auth/login",
        json={"email": ctx.admin_email, "password": "wrong password"},
        headers={"Accept-Language": "id"},
    )
    assert login.json()["error"] == {
        "code": "invalid_credentials",
        "message": "E-mail atau kata sandi salah.",
        "details": None,
    }
    invalid = await world.client.post(
        "/api/labels", headers={**ctx.headers, "Accept-Language": "id"}, json={}
    )
    assert invalid.json()["error"]["code"] == "validation_error"
    assert invalid.json()["error"]["message"] == "Permintaan tidak valid."
