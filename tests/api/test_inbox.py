"""The inbox against the WhatsApp simulator: webhooks in, replies out, Meta's rules enforced."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from runtime.bus.inprocess import InProcessBus
from runtime.domain.visibility import INBOX_ALL
from runtime.models import DeadLetter, Message
from runtime.relay import OutboxRelay
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
from tests.api.harness import ApiHarness, TenantCtx
from tests.api.whatsapp_world import WhatsAppWorld
from tests.support import wait_for

CUSTOMER = "6281234567001"


async def _setup(
    world: WhatsAppWorld,
) -> tuple[TenantCtx, dict[str, Any], dict[str, str], dict[str, Any]]:
    ctx = await world.new_tenant()
    agent, headers = await world.new_agent(ctx)
    sender = await world.add_sender(ctx, [agent["id"]])
    return ctx, agent, headers, sender


async def _conversations(
    api: ApiHarness, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    r = await api.client.get("/api/conversations", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _messages(
    api: ApiHarness, headers: dict[str, str], conversation_id: str
) -> list[dict[str, Any]]:
    r = await api.client.get(f"/api/conversations/{conversation_id}/messages", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _send_template(
    api: ApiHarness,
    headers: dict[str, str],
    conversation_id: str,
    name: str,
    body: list[str] | None = None,
) -> Any:
    template = {"name": name, "language": "en_US", "parameters": {"body": body or []}}
    return await api.client.post(
        f"/api/conversations/{conversation_id}/messages",
        headers=headers,
        json={"type": "template", "template": template},
    )


async def test_customer_writes_agent_replies_ticks_reach_read(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    wamid = await world.customer_says(sender, CUSTOMER, "Halo, pesanan saya di mana?")
    conversations = await wait_for(lambda: _conversations(world, ctx.headers), within=1.0)
    conversation = conversations[0]
    assert conversation["contact"]["phone"] == "+" + CUSTOMER
    assert conversation["contact"]["name"] == "Budi"
    assert conversation["unread_count"] == 1 and conversation["window_open"]
    [inbound] = await _messages(world, ctx.headers, conversation["id"])
    assert (inbound["wamid"], inbound["body"], inbound["direction"]) == (
        wamid,
        "Halo, pesanan saya di mana?",
        "inbound",
    )

    read = await world.client.post(
        f"/api/conversations/{conversation['id']}/read", headers=ctx.headers
    )
    assert read.json()["unread_count"] == 0
    sent = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "Sedang dikirim, tiba besok."},
    )
    assert sent.status_code == 201, sent.text
    reply = sent.json()
    assert reply["wamid"] and reply["status"] in ("pending", "sent", "delivered", "read")

    async def reply_status() -> str | None:
        messages = await _messages(world, ctx.headers, conversation["id"])
        status = next(m["status"] for m in messages if m["id"] == reply["id"])
        return status if status == "read" else None

    assert await wait_for(reply_status, within=3.0) == "read"
    on_meta_side = (await world.sim.get(f"/_sim/messages/{reply['wamid']}")).json()
    assert on_meta_side["status"] == "read"
    assert world.engine.state.inbound[wamid].read  # our mark-as-read reached Meta


async def test_window_closes_after_24h_then_only_templates(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "hi")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    await world.control("clock/advance", {"seconds": 24 * 3600 + 1})

    refused = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "still there?"},
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "template_required"
    assert len(await _messages(world, ctx.headers, conversation["id"])) == 1  # nothing stored

    await world.add_template("order_update", "Hi {{1}}, your order {{2}} has shipped.")
    await world.add_template("promo_pending", "Sale {{1}}", status="PENDING")
    synced = await world.client.post("/api/templates/sync", headers=ctx.headers)
    assert synced.json()["created"] == 2

    mismatch = await _send_template(
        world, ctx.headers, conversation["id"], "order_update", ["Budi"]
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "template_params_mismatch"
    pending = await _send_template(world, ctx.headers, conversation["id"], "promo_pending", ["x"])
    assert pending.json()["error"]["code"] == "template_not_approved"

    ok = await _send_template(
        world, ctx.headers, conversation["id"], "order_update", ["Budi", "#1234"]
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["body"] == "Hi Budi, your order #1234 has shipped."
    assert ok.json()["status"] != "failed"
    meta = (await world.sim.get(f"/_sim/messages/{ok.json()['wamid']}")).json()
    assert meta["status"] in ("sent", "delivered", "read")


async def test_first_contact_must_be_a_template(world: WhatsAppWorld) -> None:
    ctx, agent, headers, sender = await _setup(world)
    contact = (
        await world.client.post(
            "/api/contacts", headers=ctx.headers, json={"phone": "+6281234567002"}
        )
    ).json()
    await world.client.post(
        f"/api/contacts/{contact['id']}/assign", headers=ctx.headers, json={"agent_id": agent["id"]}
    )
    started = await world.client.post(
        "/api/conversations", headers=headers, json={"contact_id": contact["id"]}
    )
    assert started.status_code == 200, started.text
    conversation = started.json()
    assert conversation["sender_id"] == sender["id"] and not conversation["window_open"]
    text = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=headers,
        json={"type": "text", "text": "hello"},
    )
    assert text.json()["error"]["code"] == "template_required"
    await world.add_template("welcome", "Welcome!")
    await world.client.post("/api/templates/sync", headers=ctx.headers)
    template = await _send_template(world, headers, conversation["id"], "welcome")
    assert template.status_code == 201, template.text


async def test_duplicate_webhooks_change_nothing(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "once")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    deliveries = (await world.sim.get("/_sim/webhooks")).json()["data"]
    await world.control(f"webhooks/{deliveries[0]['id']}/redeliver")

    async def redelivered() -> bool:
        data = (await world.sim.get("/_sim/webhooks")).json()["data"]
        return any(d.get("duplicate_of") and d.get("state") == "delivered" for d in data)

    await wait_for(redelivered)
    assert len(await _messages(world, ctx.headers, conversation["id"])) == 1
    again = (
        await world.client.get(f"/api/conversations/{conversation['id']}", headers=ctx.headers)
    ).json()
    assert again["unread_count"] == 1


async def _post_webhook(api: ApiHarness, body: bytes, secret: str) -> Any:
    return await api.client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"},
    )


async def _count_messages(api: ApiHarness) -> int:
    async with api.app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


def _inbound(phone_number_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "1555",
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [{"profile": {"name": "X"}, "wa_id": CUSTOMER}],
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }


async def test_bad_signature_malformed_json_and_unknown_types(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    body = json.dumps(
        _inbound(
            sender["phone_number_id"],
            [
                {
                    "from": CUSTOMER,
                    "id": "wamid.bad-sig",
                    "timestamp": "1700000000",
                    "type": "text",
                    "text": {"body": "hi"},
                }
            ],
        )
    ).encode()
    before = await _count_messages(world)
    wrong = await _post_webhook(world, body, "not-the-secret")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_signature"
    missing = await world.client.post("/webhooks/whatsapp", content=body)
    assert missing.status_code == 401
    assert await _count_messages(world) == before

    malformed = await _post_webhook(world, b'{"object": "whatsapp_business_account", ', secret)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"

    weird = json.dumps(
        _inbound(
            sender["phone_number_id"],
            [
                {
                    "from": CUSTOMER,
                    "id": "wamid.future-type",
                    "timestamp": "1700000000",
                    "type": "hologram",
                    "hologram": {"depth": 3},
                    "brand_new_field": True,
                },
                {"id": "wamid.no-sender"},
            ],
        )
        | {"unknown_top_level": 1}
    ).encode()
    accepted = await _post_webhook(world, weird, secret)
    assert accepted.status_code == 200
    assert accepted.json() == {"accepted": True}
    await world.ingested()
    [conversation] = await _conversations(world, ctx.headers)
    [message] = await _messages(world, ctx.headers, conversation["id"])
    assert message["type"] == "unsupported"
    assert message["payload"]["hologram"] == {"depth": 3}

    nul = {"from": CUSTOMER, "id": "wamid.nul", "timestamp": "1700000001", "type": "text",
           "text": {"body": "a\u0000b"}}  # fmt: skip
    body = json.dumps(_inbound(sender["phone_number_id"], [nul])).encode()
    assert (await _post_webhook(world, body, secret)).status_code == 200
    await world.ingested()
    texts = [m["body"] for m in await _messages(world, ctx.headers, conversation["id"])]
    assert texts[0] == "ab"


async def test_out_of_order_statuses_are_monotonic(world: WhatsAppWorld) -> None:
    world.engine.config = world.engine.config.__class__(
        **{**world.engine.config.__dict__, "auto_statuses": ()}
    )
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "hi")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    sent = (
        await world.client.post(
            f"/api/conversations/{conversation['id']}/messages",
            headers=ctx.headers,
            json={"type": "text", "text": "reply"},
        )
    ).json()
    await world.control(
        f"messages/{sent['wamid']}/statuses", {"statuses": ["read", "delivered", "sent"]}
    )

    async def settled() -> str | None:
        data = (await world.sim.get("/_sim/webhooks")).json()["data"]
        if sum(1 for d in data if d["state"] == "delivered") < len(data):
            return None
        await world.ingested()
        messages = await _messages(world, ctx.headers, conversation["id"])
        return str(next(m["status"] for m in messages if m["id"] == sent["id"]))

    assert await wait_for(settled) == "read"


async def test_assigned_only_agents_see_only_their_conversations(world: WhatsAppWorld) -> None:
    ctx, agent, headers, sender = await _setup(world)
    other, other_headers = await world.new_agent(ctx)
    await world.client.put(
        f"/api/senders/allocations/agents/{other['id']}",
        headers=ctx.headers,
        json={"primary": sender["id"]},
    )
    await world.customer_says(sender, CUSTOMER, "for agent one")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    assert await _conversations(world, headers) == []  # unassigned: not visible to agents

    r = await world.client.patch(
        f"/api/conversations/{conversation['id']}",
        headers=ctx.headers,
        json={"assigned_agent_id": agent["id"]},
    )
    assert r.status_code == 200
    assert [c["id"] for c in await _conversations(world, headers, view="mine")] == [
        conversation["id"]
    ]
    assert await _conversations(world, other_headers) == []
    hidden = await world.client.get(
        f"/api/conversations/{conversation['id']}/messages", headers=other_headers
    )
    assert hidden.status_code == 404

    no_assign = await world.client.patch(
        f"/api/conversations/{conversation['id']}",
        headers=headers,
        json={"assigned_agent_id": other["id"]},
    )
    assert no_assign.status_code == 403
    resolved = await world.client.patch(
        f"/api/conversations/{conversation['id']}", headers=headers, json={"status": "resolved"}
    )
    assert resolved.json()["status"] == "resolved"
    # The customer writes again: the conversation reopens.
    await world.customer_says(sender, CUSTOMER, "one more thing")

    async def reopened() -> bool:
        c = (
            await world.client.get(f"/api/conversations/{conversation['id']}", headers=headers)
        ).json()
        return bool(c["status"] == "open")

    await wait_for(reopened)


async def test_quality_and_template_status_webhooks(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    await world.add_template("flash_sale", "Sale today")
    await world.client.post("/api/templates/sync", headers=ctx.headers)
    await world.control(
        f"phone_numbers/{sender['phone_number_id']}/quality", {"quality_rating": "RED"}
    )
    template_id = next(iter(world.engine.state.templates.values())).id  # type: ignore[attr-defined]
    await world.control(f"templates/{template_id}/status", {"status": "PAUSED"})

    async def updated() -> bool:
        s = (await world.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)).json()
        t = (await world.client.get("/api/templates", headers=ctx.headers)).json()
        return s["quality_rating"] == "RED" and t[0]["status"] == "PAUSED"

    await wait_for(updated)


async def test_webhook_verification_handshake(world: WhatsAppWorld) -> None:
    token = world.settings.whatsapp_verify_token.get_secret_value()
    ok = await world.client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"},
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = await world.client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    )
    assert bad.status_code == 403


async def test_new_customer_goes_to_the_team_holding_the_number(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    first, first_h = await world.new_agent(ctx, status="online")
    second, second_h = await world.new_agent(ctx, status="online")
    team = (
        await world.client.post(
            "/api/teams",
            headers=ctx.headers,
            json={"name": "Care", "member_ids": [first["id"], second["id"]]},
        )
    ).json()
    sender = await world.add_sender(ctx, [])
    await world.client.put(
        f"/api/senders/allocations/teams/{team['id']}",
        headers=ctx.headers,
        json={"primary": sender["id"]},
    )
    await world.customer_says(sender, "6281234567101", "first customer")
    await world.customer_says(sender, "6281234567102", "second customer")

    async def both_routed() -> list[str] | None:
        mine = [len(await _conversations(world, h, view="mine")) for h in (first_h, second_h)]
        return None if mine != [1, 1] else ["ok"]

    await wait_for(both_routed)  # round robin: one each
    [conversation] = await _conversations(world, first_h)
    history = (
        await world.client.get(
            f"/api/contacts/{conversation['contact']['id']}/assignments", headers=ctx.headers
        )
    ).json()
    assert [(h["action"], h["to_team_id"], h["actor_agent_id"]) for h in history] == [
        ("auto", team["id"], None)
    ]


async def test_withdrawn_sender_keeps_its_conversations(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "history matters")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    gone = await world.client.delete(f"/api/senders/{sender['id']}", headers=ctx.headers)
    assert gone.status_code == 204
    withdrawn = (await world.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)).json()
    assert withdrawn["status"] == "withdrawn"
    [message] = await _messages(world, ctx.headers, conversation["id"])
    assert message["body"] == "history matters"
    refused = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "from a withdrawn number"},
    )
    assert refused.status_code == 409  # the token is gone and the number out of service
    assert refused.json()["error"]["code"] == "sender_unavailable"


async def test_snoozed_conversation_reopens_when_due(world: WhatsAppWorld) -> None:
    from runtime.clock import utc_now
    from runtime.domain.snooze import wake_snoozed

    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "later please")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    until = datetime.fromtimestamp(world.engine.state.clock.now() + 3600, UTC).isoformat()
    snoozed = await world.client.patch(
        f"/api/conversations/{conversation['id']}",
        headers=ctx.headers,
        json={"status": "snoozed", "snoozed_until": until},
    )
    assert snoozed.json()["status"] == "snoozed"
    bad = await world.client.patch(
        f"/api/conversations/{conversation['id']}", headers=ctx.headers, json={"status": "snoozed"}
    )
    assert bad.status_code == 422  # a snooze needs its end

    async def wake() -> int:
        async with world.app.state.sessionmaker() as session:
            woken = await wake_snoozed(session, utc_now(world.engine.state.clock))
            await session.commit()
            return woken

    assert await wake() == 0  # not due yet
    await world.control("clock/advance", {"seconds": 3601})
    assert await wake() == 1
    again = await world.client.get(f"/api/conversations/{conversation['id']}", headers=ctx.headers)
    assert (again.json()["status"], again.json()["snoozed_until"]) == ("open", None)


def _text(wamid: str, body: str, **extra: Any) -> dict[str, Any]:
    return {"from": CUSTOMER, "id": wamid, "timestamp": "1700000000", "type": "text",
            "text": {"body": body}, **extra}  # fmt: skip


async def test_deep_webhook_payload_bounded_at_ingest(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    deep: dict[str, Any] = {}
    for _ in range(900):
        deep = {"x": deep}
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    body = _inbound(
        sender["phone_number_id"],
        [
            _text("wamid.deep", "hi", deep=deep),
            _text("wamid.huge", "hi", huge="x" * 70_000),
            _text("wamid.fine", "still here"),
        ],
    )
    answered = await _post_webhook(world, json.dumps(body).encode(), secret)
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"accepted": True}
    await world.ingested()
    [conversation] = await _conversations(world, ctx.headers)
    assert [m["wamid"] for m in await _messages(world, ctx.headers, conversation["id"])] == [
        "wamid.fine"
    ]

    # Live events still flow: every pending event of the tenant reaches a bus subscriber.
    bus = InProcessBus("fanout")
    frames: list[dict[str, Any]] = []
    subscription = await bus.subscribe(
        ctx.slug, "pod", lambda _t, b: frames.extend(json.loads(b.frame(i)) for i in range(len(b)))
    )
    await subscription.bind([INBOX_ALL])
    relay = OutboxRelay(world.app.state.sessionmaker, bus)
    while await relay.publish_pending():
        pass
    created = [f["payload"] for f in frames if f["type"] == "message.created"]
    assert [p["message"]["wamid"] for p in created] == ["wamid.fine"]
    async with world.app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(DeadLetter)) == 0


async def test_start_conversation_applies_visibility(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    team = await world.client.post(
        "/api/teams", headers=ctx.headers, json={"name": "Sales", "assignment_strategy": "manual"}
    )
    alice, alice_headers = await world.new_agent(ctx, team_ids=[team.json()["id"]])
    bob, bob_headers = await world.new_agent(ctx, team_ids=[team.json()["id"]])
    sender = await world.add_sender(ctx, [alice["id"], bob["id"]])
    contact = (
        await world.client.post(
            "/api/contacts", headers=ctx.headers, json={"phone": "+6281234567003"}
        )
    ).json()
    pooled = await world.client.post(  # the team's pool: both teammates see the contact
        f"/api/contacts/{contact['id']}/assign",
        headers=ctx.headers,
        json={"team_id": team.json()["id"]},
    )
    assert pooled.status_code == 200, pooled.text
    start = {"contact_id": contact["id"], "sender_id": sender["id"]}
    mine = await world.client.post("/api/conversations", headers=bob_headers, json=start)
    assert mine.status_code == 200 and mine.json()["assigned_agent_id"] == bob["id"]

    theirs = await world.client.post("/api/conversations", headers=alice_headers, json=start)
    assert theirs.status_code == 409, theirs.text
    assert theirs.json()["error"]["code"] == "conversation_assigned_elsewhere"
    assert mine.json()["id"] not in theirs.text
    hidden = await world.client.get(
        f"/api/conversations/{mine.json()['id']}", headers=alice_headers
    )
    assert hidden.status_code == 404
