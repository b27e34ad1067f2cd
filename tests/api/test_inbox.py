"""The inbox against the WhatsApp simulator: webhooks in, replies out, Meta's rules enforced."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import func, select

from runtime.bus.inprocess import InProcessBus
from runtime.domain.visibility import INBOX_ALL
from runtime.models import DeadLetter, Message
from runtime.relay import OutboxRelay
from runtime.whatsapp import webhooks
from runtime.whatsapp.errors import webhook_error
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
from runtime.whatsapp.simulator.state import InboundMessage
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


async def _handed_to_meta(
    world: WhatsAppWorld, headers: dict[str, str], conversation_id: str, message_id: str
) -> dict[str, Any]:
    """The message once the send queue has handed it to Meta (it then has its wamid)."""
    await world.sent()
    messages = await _messages(world, headers, conversation_id)
    return next(m for m in messages if m["id"] == message_id)


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
    conversations = await wait_for(lambda: _conversations(world, ctx.headers), within=5.0)
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
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "queued" and sent.json()["wamid"] is None
    reply = await _handed_to_meta(world, ctx.headers, conversation["id"], sent.json()["id"])
    assert reply["wamid"] and reply["status"] in ("queued", "sent", "delivered", "read")

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
    assert ok.status_code == 202, ok.text
    assert ok.json()["body"] == "Hi Budi, your order #1234 has shipped."
    handed = await _handed_to_meta(world, ctx.headers, conversation["id"], ok.json()["id"])
    assert handed["status"] != "failed"
    meta = (await world.sim.get(f"/_sim/messages/{handed['wamid']}")).json()
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
    assert template.status_code == 202, template.text


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
    for garbage in (b'\xff\xfe{"object"}', b"[1, 2]", b'{"object": "page"}', b"nul\x00"):
        refused = await _post_webhook(world, garbage, secret)
        assert refused.status_code == 400, garbage
        assert refused.json()["error"]["code"] in {"malformed_json", "unexpected_object"}
        assert refused.headers["content-type"] == "application/json"
    # Only POST on the exact path is the hot path; the handshake and other methods route as usual.
    assert (await world.client.put("/webhooks/whatsapp", content=body)).status_code == 405
    nul = await world.client.post("/webhooks/whatsapp?x=%00", content=body)
    assert nul.status_code == 422
    assert await _count_messages(world) == before

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
    queued = (
        await world.client.post(
            f"/api/conversations/{conversation['id']}/messages",
            headers=ctx.headers,
            json={"type": "text", "text": "reply"},
        )
    ).json()
    sent = await _handed_to_meta(world, ctx.headers, conversation["id"], queued["id"])
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


# --- issue 10: order, isolation, fidelity to Meta's webhook shapes -----------------------


def _number(sender: dict[str, Any]) -> webhooks.BusinessNumber:
    return webhooks.BusinessNumber(
        sender["waba_id"], sender["phone_number_id"], sender["display_number"]
    )


async def _deliver(world: WhatsAppWorld, payload: dict[str, Any]) -> None:
    """POST one signed notification the way Meta does (it must be accepted), then wait until
    the pipeline applied it."""
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    answered = await _post_webhook(world, json.dumps(payload).encode(), secret)
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"accepted": True}
    await world.ingested()


def _now(world: WhatsAppWorld) -> int:
    return int(world.engine.state.clock.timestamp())


async def test_messages_keep_metas_order_within_one_second(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    second = str(_now(world))
    wamids = [f"wamid.order-{i}-{uuid.uuid4().hex}" for i in range(5)]
    for wamid in wamids:  # Meta knows them, in this order (for mark-as-read below)
        world.engine.state.inbound[wamid] = InboundMessage(
            wamid, sender["phone_number_id"], CUSTOMER
        )
    batch = [_text(w, f"part {i}", timestamp=second) for i, w in enumerate(wamids)]
    await _deliver(world, _inbound(sender["phone_number_id"], batch))

    [conversation] = await _conversations(world, ctx.headers)
    newest_first = await _messages(world, ctx.headers, conversation["id"])
    assert [m["wamid"] for m in reversed(newest_first)] == wamids
    assert [m["conversation_seq"] for m in reversed(newest_first)] == [1, 2, 3, 4, 5]
    first_page = (
        await world.client.get(
            f"/api/conversations/{conversation['id']}/messages",
            headers=ctx.headers,
            params={"limit": 2},
        )
    ).json()
    older = (
        await world.client.get(
            f"/api/conversations/{conversation['id']}/messages",
            headers=ctx.headers,
            params={"limit": 2, "cursor": first_page["next_cursor"]},
        )
    ).json()
    assert [m["wamid"] for m in first_page["items"] + older["items"]] == wamids[:0:-1]

    read = await world.client.post(
        f"/api/conversations/{conversation['id']}/read", headers=ctx.headers
    )
    assert read.status_code == 200, read.text
    assert all(world.engine.state.inbound[w].read for w in wamids)  # the last one was marked

    reply = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "all five received"},
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["conversation_seq"] == 6


async def test_one_bad_item_never_fails_its_delivery(world: WhatsAppWorld) -> None:
    ctx, _, agent_headers, sender = await _setup(world)
    refused_before = REGISTRY.get_sample_value("scrm_ingest_errors_total", {"code": "invalid_type"})
    good = [_text("wamid.good-1", "first"), _text("wamid.good-2", "second")]
    bad = [
        _text("wamid.bad-type", "x") | {"type": ["text"]},
        {"from": CUSTOMER, "timestamp": "1700000000", "type": "text", "text": {"body": "no id"}},
        42,
    ]
    payload = _inbound(sender["phone_number_id"], [good[0], *bad, good[1]])
    payload["entry"].append("not an entry")
    await _deliver(world, payload)
    [conversation] = await _conversations(world, ctx.headers)
    assert {m["wamid"] for m in await _messages(world, ctx.headers, conversation["id"])} == {
        "wamid.good-1",
        "wamid.good-2",
    }
    refused_after = REGISTRY.get_sample_value("scrm_ingest_errors_total", {"code": "invalid_type"})
    assert (refused_after or 0) == (refused_before or 0) + 1

    listed = await world.client.get("/api/ingest/errors", headers=ctx.headers)
    assert listed.status_code == 200, listed.text
    mine = {(e["field"], e["item_id"], e["code"]) for e in listed.json()["items"]}
    assert mine == {  # the entry naming no sender belongs to no tenant: not listed
        ("messages", "wamid.bad-type", "invalid_type"),
        ("messages", None, "missing_id"),
        ("messages", None, "malformed_message"),
    }
    excerpt = next(e["excerpt"] for e in listed.json()["items"] if e["code"] == "invalid_type")
    assert '"wamid.bad-type"' in excerpt
    assert (await world.client.get("/api/ingest/errors", headers=agent_headers)).status_code == 403


async def test_customer_known_only_by_user_id_is_stored(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    number = _number(sender)
    rina = webhooks.Customer(None, "Rina", user_id="ID.1390562719420034")
    payload = webhooks.inbound_text(
        number, rina, message_id="wamid.bsuid-1", timestamp=_now(world), body="halo"
    )
    assert "from" not in payload["entry"][0]["changes"][0]["value"]["messages"][0]
    await _deliver(world, payload)
    [conversation] = await _conversations(world, ctx.headers)
    assert conversation["contact"] == {
        "id": conversation["contact"]["id"],
        "name": "Rina",
        "phone": None,
        "wa_user_id": "ID.1390562719420034",
    }
    refused = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "hi Rina"},
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "contact_has_no_phone"
    listed = await world.client.get("/api/contacts", headers=ctx.headers)
    assert listed.status_code == 200 and listed.json()["items"][0]["phone"] is None

    with_phone = webhooks.Customer(CUSTOMER, "Rina", user_id="ID.1390562719420034")
    payload = webhooks.inbound_text(
        number, with_phone, message_id="wamid.bsuid-2", timestamp=_now(world), body="my number"
    )
    await _deliver(world, payload)
    [same] = await _conversations(world, ctx.headers)
    assert same["id"] == conversation["id"]
    assert same["contact"]["phone"] == "+" + CUSTOMER


async def _synced_template(world: WhatsAppWorld, ctx: TenantCtx) -> tuple[int, str]:
    """A template mirrored from the simulator: (Meta's integer id, our id)."""
    await world.add_template("flash_sale", "Sale today")
    assert (await world.client.post("/api/templates/sync", headers=ctx.headers)).status_code == 200
    meta_id = next(iter(world.engine.state.templates.values())).id  # type: ignore[attr-defined]
    [ours] = (await world.client.get("/api/templates", headers=ctx.headers)).json()
    return int(meta_id), str(ours["id"])


async def _template(world: WhatsAppWorld, ctx: TenantCtx) -> dict[str, Any]:
    [template] = (await world.client.get("/api/templates", headers=ctx.headers)).json()
    return dict(template)


async def test_template_status_events_map_to_product_states(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    meta_id, _ = await _synced_template(world, ctx)
    for event, state in [
        ("PAUSED", "PAUSED"),
        ("REINSTATED", "APPROVED"),
        ("ARCHIVED", "ARCHIVED"),
        ("UNARCHIVED", "APPROVED"),
    ]:
        payload = webhooks.message_template_status_update(
            sender["waba_id"],
            template_id=meta_id,
            name="flash_sale",
            language="en_US",
            event=event,
            category="UTILITY",
            time=_now(world),
        )
        await _deliver(world, payload)
        assert (await _template(world, ctx))["status"] == state, event


async def test_template_category_and_quality_updates_are_applied(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    meta_id, _ = await _synced_template(world, ctx)
    named = {"template_id": meta_id, "name": "flash_sale", "language": "en_US"}
    await _deliver(
        world,
        webhooks.template_category_update(
            sender["waba_id"],
            previous_category="UTILITY",
            new_category="MARKETING",
            time=_now(world),
            **named,
        ),
    )
    await _deliver(
        world,
        webhooks.message_template_quality_update(
            sender["waba_id"],
            previous_quality_score="GREEN",
            new_quality_score="YELLOW",
            time=_now(world),
            **named,
        ),
    )
    template = await _template(world, ctx)
    assert (template["category"], template["quality_score"]) == ("MARKETING", "YELLOW")


async def test_unknown_template_triggers_a_sync_of_its_waba(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    payload = webhooks.message_template_status_update(
        sender["waba_id"],
        template_id=987654321,
        name="made_in_business_manager",
        language="en_US",
        event="APPROVED",
        category="MARKETING",
        time=_now(world),
    )
    await _deliver(world, payload)
    flagged = (await world.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)).json()
    assert flagged["templates_sync_requested_at"] is not None
    assert (await world.client.post("/api/templates/sync", headers=ctx.headers)).status_code == 200
    synced = (await world.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)).json()
    assert synced["templates_sync_requested_at"] is None


async def test_quality_update_reads_max_daily_conversations_per_business(
    world: WhatsAppWorld,
) -> None:
    ctx, _, _, sender = await _setup(world)

    async def tier_after(**shape: Any) -> str:
        payload = webhooks.phone_number_quality_update(
            sender["waba_id"],
            display_phone_number=sender["display_number"],
            event="UPGRADE",
            time=_now(world),
            **shape,
        )
        await _deliver(world, payload)
        stored = await world.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)
        return str(stored.json()["messaging_limit_tier"])

    assert await tier_after(current_limit="TIER_2K", deprecated_fields=False) == "TIER_2K"
    assert await tier_after(current_limit="TIER_10K", deprecated_fields=True) == "TIER_10K"


async def test_account_update_stored_on_the_wabas_senders(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    restriction = [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1}]
    payload = webhooks.account_update(
        sender["waba_id"],
        event="ACCOUNT_RESTRICTION",
        time=_now(world),
        restriction_info=restriction,
    )
    await _deliver(world, payload)
    stored = (await world.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)).json()
    assert stored["account_update"]["event"] == "ACCOUNT_RESTRICTION"
    assert stored["account_update"]["restriction_info"] == restriction


async def test_inbound_errors_kept_on_the_message(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    payload = webhooks.inbound_unsupported(
        _number(sender),
        webhooks.Customer(CUSTOMER, "Budi"),
        message_id="wamid.unsupported",
        timestamp=_now(world),
    )
    await _deliver(world, payload)
    [conversation] = await _conversations(world, ctx.headers)
    [message] = await _messages(world, ctx.headers, conversation["id"])
    assert message["error_code"] == 131051
    assert message["error_message"] == webhook_error(131051)["error_data"]["details"]


async def test_customer_changed_number_updates_the_contact(world: WhatsAppWorld) -> None:
    ctx, _, _, sender = await _setup(world)
    number, budi = _number(sender), webhooks.Customer(CUSTOMER, "Budi")
    tag = uuid.uuid4().hex  # wamids are global: unique in the shared test database
    first = webhooks.inbound_text(
        number, budi, message_id=f"wamid.before-{tag}", timestamp=_now(world), body="hi"
    )
    changed = webhooks.inbound_changed_number(
        number,
        budi,
        message_id=f"wamid.changed-{tag}",
        timestamp=_now(world),
        new_wa_id="6281234567999",
    )
    await _deliver(world, first)
    await _deliver(world, changed)
    [conversation] = await _conversations(world, ctx.headers)
    assert conversation["contact"]["phone"] == "+6281234567999"
    later = webhooks.inbound_text(
        number,
        webhooks.Customer("6281234567999", "Budi"),
        message_id=f"wamid.after-{tag}",
        timestamp=_now(world),
        body="new phone",
    )
    await _deliver(world, later)
    [same] = await _conversations(world, ctx.headers)
    assert same["id"] == conversation["id"]
    kinds = [m["type"] for m in await _messages(world, ctx.headers, conversation["id"])]
    assert kinds == ["text", "system", "text"]


async def test_status_pricing_stored_per_message(world: WhatsAppWorld) -> None:
    world.engine.config = world.engine.config.__class__(
        **{**world.engine.config.__dict__, "auto_statuses": ()}
    )
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "hi")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    reply = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "reply"},
    )
    handed = await _handed_to_meta(world, ctx.headers, conversation["id"], reply.json()["id"])
    wamid = handed["wamid"]
    for status, pricing in [
        ("read", None),  # out of order: the priced "sent" comes after "read"
        ("sent", webhooks.pricing("service", "free_customer_service", billable=False)),
    ]:
        payload = webhooks.status_update(
            _number(sender),
            message_id=wamid,
            recipient_id=CUSTOMER,
            status=status,  # type: ignore[arg-type]
            timestamp=_now(world),
            pricing=pricing,
        )
        await _deliver(world, payload)
    stored = next(
        m for m in await _messages(world, ctx.headers, conversation["id"]) if m["wamid"] == wamid
    )
    assert stored["status"] == "read"
    assert stored["pricing"] == {
        "category": "service",
        "type": "free_customer_service",
        "billable": False,
        "pricing_model": "PMP",
    }
