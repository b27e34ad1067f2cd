"""Rich messages through the api and the simulator: templates with every component,
interactive buttons and lists, reactions, replies with quotes, and the rich inbound types."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from sqlalchemy import select

from runtime.models import Event
from tests.api.harness import ApiHarness, TenantCtx
from tests.api.whatsapp_world import WABA_ID, WhatsAppWorld
from tests.support import wait_for

PROMO_COMPONENTS = [
    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://x/h.png"]}},
    {"type": "BODY", "text": "Hi {{1}}, {{2}} off until {{3}}."},
    {"type": "FOOTER", "text": "Demo Shop"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "URL", "text": "Track", "url": "https://shop.example/o/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "COPY_CODE", "example": "SAVE25"},
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+6281200000000"},
        ],
    },
]
IMAGE = {"type": "image", "link": "https://cdn.example/promo.png"}
CURRENCY = {
    "type": "currency",
    "fallback_value": "Rp 50.000",
    "code": "IDR",
    "amount_1000": 50_000_000,
}
DATE = {"type": "date_time", "fallback_value": "1 December"}


def _customer() -> str:
    return f"62812{uuid.uuid4().int % 10**8:08d}"


async def _open_conversation(
    world: WhatsAppWorld,
) -> tuple[TenantCtx, dict[str, Any], str, dict[str, Any]]:
    """A tenant, its sender, a customer who wrote (window open) and the conversation."""
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    customer = _customer()
    await world.customer_says(sender, customer, "Halo")
    conversations = await wait_for(lambda: _conversations(world, ctx), within=5.0)
    return ctx, sender, customer, conversations[0]


async def _conversations(api: ApiHarness, ctx: TenantCtx) -> list[dict[str, Any]]:
    r = await api.client.get("/api/conversations", headers=ctx.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _messages(api: ApiHarness, ctx: TenantCtx, conversation: dict[str, Any]) -> list[Any]:
    r = await api.client.get(
        f"/api/conversations/{conversation['id']}/messages", headers=ctx.headers
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _send(
    api: ApiHarness, ctx: TenantCtx, conversation: dict[str, Any], body: dict[str, Any]
) -> Any:
    return await api.client.post(
        f"/api/conversations/{conversation['id']}/messages", headers=ctx.headers, json=body
    )


async def _at_meta(world: WhatsAppWorld, message_id: str) -> dict[str, Any]:
    """What Meta received for our message ``message_id`` (by its callback data)."""

    async def find() -> dict[str, Any] | None:
        sent = (await world.sim.get("/_sim/messages")).json()["data"]
        return next((m for m in sent if m["callback_data"] == message_id), None)

    found: dict[str, Any] = await wait_for(find, within=10.0)
    return found


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_template_with_every_component_is_checked_then_sent(world: WhatsAppWorld) -> None:
    ctx, _, _, conversation = await _open_conversation(world)
    name = f"promo_{uuid.uuid4().hex[:8]}"
    await world.control(
        "templates",
        {
            "waba_id": WABA_ID,
            "name": name,
            "language": "en_US",
            "category": "MARKETING",
            "status": "APPROVED",
            "components": PROMO_COMPONENTS,
        },
    )
    assert (await world.client.post("/api/templates/sync", headers=ctx.headers)).status_code == 200
    good = {
        "header": [IMAGE],
        "body": ["Budi", CURRENCY, DATE],
        "buttons": [{"index": 0, "value": "A-77"}, {"index": 2, "value": "SAVE25"}],
    }

    def template(parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "template",
            "template": {"name": name, "language": "en_US", "parameters": parameters},
        }

    cases = {
        "no header media": ({**good, "header": []}, "template_params_mismatch", "header", 0),
        "text for an image": ({**good, "header": ["x"]}, "template_param_invalid", "header", 0),
        "extra body": (
            {**good, "body": [*good["body"], "x"]},
            "template_params_mismatch",
            "body",
            3,
        ),
        "missing body": ({**good, "body": ["Budi"]}, "template_params_mismatch", "body", 1),
        "no URL suffix": (
            {**good, "buttons": good["buttons"][1:]},
            "template_params_mismatch",
            "buttons",
            0,
        ),
        "phone button": (
            {**good, "buttons": [*good["buttons"], {"index": 3, "value": "x"}]},
            "template_params_mismatch",
            "buttons",
            3,
        ),
        "long coupon": (
            {**good, "buttons": [good["buttons"][0], {"index": 2, "value": "X" * 16}]},
            "template_param_invalid",
            "buttons",
            2,
        ),
        "bad currency": (
            {**good, "body": ["Budi", {**CURRENCY, "code": "RUPIAH"}, DATE]},
            "template_param_invalid",
            "body",
            1,
        ),
    }
    for case, (parameters, code, component, index) in cases.items():
        error = _error(await _send(world, ctx, conversation, template(parameters)))
        assert error["code"] == code, case
        assert (error["details"]["component"], error["details"]["index"]) == (component, index), (
            case
        )
    too_long = {**good, "body": ["B" * 1024, CURRENCY, DATE]}  # the filled body is over 1024
    error = _error(await _send(world, ctx, conversation, template(too_long)))
    assert error["code"] == "template_text_too_long"
    assert error["details"]["component"] == "body" and error["details"]["limit"] == 1024
    assert error["details"]["length"] > 1024
    assert len(await _messages(world, ctx, conversation)) == 1  # nothing stored

    ok = await _send(world, ctx, conversation, template(good))
    assert ok.status_code == 202, ok.text
    assert ok.json()["body"] == "Hi Budi, Rp 50.000 off until 1 December."
    at_meta = await _at_meta(world, ok.json()["id"])
    components = at_meta["body"]["template"]["components"]
    assert components[0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": IMAGE["link"]}}],
    }
    assert components[1]["parameters"][1]["currency"]["amount_1000"] == 50_000_000
    assert [(c["sub_type"], c["index"]) for c in components[2:]] == [
        ("url", "0"),
        ("copy_code", "2"),
    ]
    assert at_meta["status"] != "failed"

    resent_payload = (await _messages(world, ctx, conversation))[0]["payload"]
    assert resent_payload["parameters"]["buttons"][1]["value"] == "SAVE25"  # kept to resend


async def test_interactive_limits_are_checked_before_sending(world: WhatsAppWorld) -> None:
    ctx, _, customer, conversation = await _open_conversation(world)
    buttons = [{"id": f"b{i}", "title": f"Option {i}"} for i in range(4)]
    rows = [{"id": f"r{i}", "title": f"Row {i}"} for i in range(11)]
    bad = {
        "4 buttons": ({"type": "button", "body": "Pick", "buttons": buttons}, "buttons"),
        "long title": (
            {"type": "button", "body": "Pick", "buttons": [{"id": "a", "title": "x" * 21}]},
            "buttons[0].title",
        ),
        "11 rows": (
            {
                "type": "list",
                "body": "Pick",
                "button": "Options",
                "sections": [{"title": "A", "rows": rows[:6]}, {"title": "B", "rows": rows[6:]}],
            },
            "sections",
        ),
        "long row": (
            {
                "type": "list",
                "body": "Pick",
                "button": "Options",
                "sections": [{"rows": [{"id": "r", "title": "y" * 25}]}],
            },
            "sections[0].rows[0].title",
        ),
        "same ids": (
            {"type": "button", "body": "Pick", "buttons": [{"id": "a", "title": "A"}] * 2},
            "buttons[1].id",
        ),
    }
    for case, (spec, field) in bad.items():
        error = _error(
            await _send(world, ctx, conversation, {"type": "interactive", "interactive": spec})
        )
        assert (error["code"], error["details"]["field"]) == ("interactive_invalid", field), case
    assert len(await _messages(world, ctx, conversation)) == 1  # nothing stored

    spec = {"type": "button", "body": "Reschedule?", "footer": "Demo Shop", "buttons": buttons[:3]}
    sent = await _send(world, ctx, conversation, {"type": "interactive", "interactive": spec})
    assert sent.status_code == 202, sent.text
    at_meta = await _at_meta(world, sent.json()["id"])
    assert at_meta["type"] == "interactive"
    assert at_meta["body"]["interactive"]["action"]["buttons"][2]["reply"]["title"] == "Option 2"

    listed = {
        "type": "list",
        "body": "Which?",
        "button": "Options",
        "sections": [{"title": "Fast", "rows": rows[:10]}],
    }
    sent_list = await _send(
        world, ctx, conversation, {"type": "interactive", "interactive": listed}
    )
    assert sent_list.status_code == 202, sent_list.text
    assert (await _at_meta(world, sent_list.json()["id"]))["status"] != "failed"

    await world.control(
        f"customers/{customer}/messages",
        {
            "phone_number_id": conversation_number(world, conversation),
            "type": "interactive",
            "content": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Option 1"}},
        },
    )

    async def choice() -> dict[str, Any] | None:
        found = [m for m in await _messages(world, ctx, conversation) if m["type"] == "interactive"]
        return next((m for m in found if m["direction"] == "inbound"), None)

    reply = await wait_for(choice, within=5.0)
    assert reply["body"] == "Option 1"
    assert reply["payload"]["interactive"]["button_reply"]["id"] == "b1"


def conversation_number(world: WhatsAppWorld, conversation: dict[str, Any]) -> str:
    """The simulator's phone number id of the conversation's sender (one per test world)."""
    [number] = world.engine.state.phone_numbers.values()
    return str(number.id)


async def test_reactions_attach_to_their_message_both_ways(world: WhatsAppWorld) -> None:
    ctx, sender, customer, conversation = await _open_conversation(world)
    [inbound] = await _messages(world, ctx, conversation)

    reacted = await _send(
        world,
        ctx,
        conversation,
        {"type": "reaction", "reaction": {"message_id": inbound["id"], "emoji": "👍"}},
    )
    assert reacted.status_code == 202, reacted.text
    at_meta = await _at_meta(world, reacted.json()["id"])
    assert at_meta["body"]["reaction"] == {"message_id": inbound["wamid"], "emoji": "👍"}
    assert at_meta["status"] != "failed"
    target = next(m for m in await _messages(world, ctx, conversation) if m["id"] == inbound["id"])
    assert target["reactions"] == {"business": "👍"}
    removed = await _send(
        world,
        ctx,
        conversation,
        {"type": "reaction", "reaction": {"message_id": inbound["id"], "emoji": ""}},
    )
    assert removed.status_code == 202
    assert (await _at_meta(world, removed.json()["id"]))["body"]["reaction"]["emoji"] == ""
    target = next(m for m in await _messages(world, ctx, conversation) if m["id"] == inbound["id"])
    assert target["reactions"] == {}

    reply = await _send(world, ctx, conversation, {"type": "text", "text": "Siap"})
    reply_wamid = (await _at_meta(world, reply.json()["id"]))["id"]
    before = len(await _messages(world, ctx, conversation))
    for emoji in ("❤️", ""):
        await world.control(
            f"customers/{customer}/messages",
            {
                "phone_number_id": sender["phone_number_id"],
                "type": "reaction",
                "content": {"message_id": reply_wamid, "emoji": emoji},
            },
        )

        async def shown(expected: dict[str, str] = {"customer": emoji} if emoji else {}) -> bool:
            messages = await _messages(world, ctx, conversation)
            ours = next(m for m in messages if m["id"] == reply.json()["id"])
            return ours["reactions"] == expected

        assert await wait_for(shown, within=5.0)
    assert len(await _messages(world, ctx, conversation)) == before  # never a bubble of its own

    other = await world.new_tenant()
    other_sender = await world.add_sender(other, [])
    await world.customer_says(other_sender, _customer(), "hi")
    [theirs] = await wait_for(lambda: _conversations(world, other), within=5.0)
    [their_message] = await _messages(world, other, theirs)
    for unknown in (str(uuid.uuid4()), their_message["id"]):
        error = _error(
            await _send(
                world,
                ctx,
                conversation,
                {"type": "reaction", "reaction": {"message_id": unknown, "emoji": "👍"}},
            )
        )
        assert error["code"] == "reaction_target_unknown"
        error = _error(
            await _send(
                world,
                ctx,
                conversation,
                {"type": "text", "text": "x", "reply_to_message_id": unknown},
            )
        )
        assert error["code"] == "reply_target_unknown"
    assert len(await _messages(world, ctx, conversation)) == before


async def _target(
    world: WhatsAppWorld, ctx: TenantCtx, conversation: dict[str, Any], message_id: str
) -> dict[str, Any]:
    return next(m for m in await _messages(world, ctx, conversation) if m["id"] == message_id)


async def _last_update(world: WhatsAppWorld, message_id: str) -> dict[str, Any]:
    """The newest ``message.updated`` event of ``message_id``, as the outbox stored it."""
    async with world.app.state.sessionmaker() as session:
        payloads = await session.scalars(
            select(Event.payload)
            .where(Event.type == "message.updated")
            .order_by(Event.id.desc())
            .limit(200)
        )
        found = [p["message"] for p in payloads if p["message"]["id"] == message_id]
    return dict(found[0])


async def test_a_reaction_meta_refuses_is_taken_off_its_message(world: WhatsAppWorld) -> None:
    ctx, sender, _, conversation = await _open_conversation(world)
    [inbound] = await _messages(world, ctx, conversation)
    react = {"type": "reaction", "reaction": {"message_id": inbound["id"], "emoji": "👍"}}

    # Refused by the Graph call itself
    await world.fail_next(sender["id"], kind="error", code=131009)
    refused = await _send(world, ctx, conversation, react)
    assert refused.status_code == 202, refused.text

    async def taken_off() -> dict[str, Any] | None:
        target = await _target(world, ctx, conversation, inbound["id"])
        return target if target["reaction_refused"] else None

    target = await wait_for(taken_off, within=15.0)
    assert target["reactions"] == {}
    refusal = target["reaction_refused"]
    assert (refusal["emoji"], refusal["error_code"]) == ("👍", 131009)
    assert refusal["error_message"] and refusal["reaction_id"] == refused.json()["id"]
    assert (await _last_update(world, inbound["id"]))["reaction_refused"] == refusal  # live

    # Accepted, then a ``failed`` status webhook
    again = await _send(
        world, ctx, conversation, {**react, "reaction": {**react["reaction"], "emoji": "❤️"}}
    )
    wamid = (await _at_meta(world, again.json()["id"]))["id"]
    target = await _target(world, ctx, conversation, inbound["id"])
    assert (target["reactions"], target["reaction_refused"]) == ({"business": "❤️"}, None)
    await world.control(
        f"messages/{wamid}/statuses", {"statuses": ["failed"], "error_code": 131026}
    )
    target = await wait_for(taken_off, within=15.0)
    assert target["reactions"] == {}
    assert (target["reaction_refused"]["emoji"], target["reaction_refused"]["error_code"]) == (
        "❤️",
        131026,
    )

    # A refusal that a later reaction of ours replaced changes nothing
    first = await _send(world, ctx, conversation, react)
    first_wamid = (await _at_meta(world, first.json()["id"]))["id"]
    second = await _send(
        world, ctx, conversation, {**react, "reaction": {**react["reaction"], "emoji": "🙏"}}
    )
    await _at_meta(world, second.json()["id"])
    await world.control(
        f"messages/{first_wamid}/statuses", {"statuses": ["failed"], "error_code": 131026}
    )

    async def first_failed() -> bool:
        messages = await _messages(world, ctx, conversation)
        return next(m for m in messages if m["id"] == first.json()["id"])["status"] == "failed"

    await wait_for(first_failed, within=15.0)
    target = await _target(world, ctx, conversation, inbound["id"])
    assert (target["reactions"], target["reaction_refused"]) == ({"business": "🙏"}, None)


async def test_a_refused_removal_or_change_shows_the_emoji_meta_kept(
    world: WhatsAppWorld,
) -> None:
    """Meta accepts each reaction, then refuses it by a ``failed`` status (aimed at its
    wamid: a fault injected for the next Graph call could be taken by another test's send
    in the shared database)."""
    ctx, _, _, conversation = await _open_conversation(world)
    [inbound] = await _messages(world, ctx, conversation)

    async def react(emoji: str) -> tuple[str, str]:
        body = {"type": "reaction", "reaction": {"message_id": inbound["id"], "emoji": emoji}}
        sent = await _send(world, ctx, conversation, body)
        assert sent.status_code == 202, sent.text
        return sent.json()["id"], (await _at_meta(world, sent.json()["id"]))["id"]

    async def meta_refuses(wamid: str, code: int) -> None:
        await world.control(
            f"messages/{wamid}/statuses", {"statuses": ["failed"], "error_code": code}
        )

    async def shows(business: str, refused_id: str) -> dict[str, Any] | None:
        target = await _target(world, ctx, conversation, inbound["id"])  # as a reload reads it
        refusal = target["reaction_refused"] or {}
        wanted = ({"business": business}, refused_id)
        return target if (target["reactions"], refusal.get("reaction_id")) == wanted else None

    await react("👍")
    for emoji, code in (("", 131026), ("❤️", 131000)):  # a removal, then a change, refused
        reaction_id, wamid = await react(emoji)
        await meta_refuses(wamid, code)
        still_at_meta = partial(shows, "👍", reaction_id)
        target = await wait_for(still_at_meta, within=15.0)
        refusal = target["reaction_refused"]
        assert (refusal["emoji"], refusal["error_code"]) == (emoji, code)
        live = await _last_update(world, inbound["id"])
        assert (live["reactions"], live["reaction_refused"]) == ({"business": "👍"}, refusal)

    # A change, then its removal, both refused, the removal first: Meta still has 👍
    _, change_wamid = await react("🙏")
    removal_id, removal_wamid = await react("")
    await meta_refuses(removal_wamid, 131026)
    await wait_for(lambda: shows("🙏", removal_id), within=15.0)  # 🙏 not refused yet
    await meta_refuses(change_wamid, 131026)
    target = await wait_for(lambda: shows("👍", removal_id), within=15.0)
    assert target["reaction_refused"]["emoji"] == ""  # the latest refusal stays shown


async def test_replies_quote_their_message_both_ways(world: WhatsAppWorld) -> None:
    ctx, sender, customer, conversation = await _open_conversation(world)
    [inbound] = await _messages(world, ctx, conversation)
    answer = await _send(
        world,
        ctx,
        conversation,
        {"type": "text", "text": "Ya, ada warna biru", "reply_to_message_id": inbound["id"]},
    )
    assert answer.status_code == 202, answer.text
    at_meta = await _at_meta(world, answer.json()["id"])
    assert at_meta["body"]["context"] == {"message_id": inbound["wamid"]}
    listed = next(
        m for m in await _messages(world, ctx, conversation) if m["id"] == answer.json()["id"]
    )
    assert listed["reply_to"]["id"] == inbound["id"] and listed["reply_to"]["body"] == "Halo"

    await world.customer_says(sender, customer, "Berapa harganya?", reply_to=at_meta["id"])

    async def quoted() -> dict[str, Any] | None:
        messages = await _messages(world, ctx, conversation)
        return next((m for m in messages if m["body"] == "Berapa harganya?"), None)

    question = await wait_for(quoted, within=5.0)
    assert question["reply_to"]["id"] == answer.json()["id"]
    assert question["reply_to"]["body"] == "Ya, ada warna biru"


async def test_rich_inbound_types_are_kept_and_labelled(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    customer = _customer()
    referral = {
        "source_url": "https://fb.me/ad1",
        "source_type": "ad",
        "source_id": "12345",
        "headline": "Promo Desember",
        "body": "Diskon 20%",
        "ctwa_clid": "ARxx",
    }
    await world.customer_says(sender, customer, "Saya lihat iklannya", referral=referral)
    rich = {
        "location": {
            "latitude": -6.2,
            "longitude": 106.816666,
            "name": "Monas",
            "address": "Jakarta",
        },
        "contacts": [
            {
                "name": {"formatted_name": "Siti Aminah", "first_name": "Siti"},
                "phones": [{"phone": "+62 812 0000 1111", "type": "CELL"}],
            }
        ],
        "order": {
            "catalog_id": "cat1",
            "text": "",
            "product_items": [
                {
                    "product_retailer_id": "sku-1",
                    "quantity": 2,
                    "item_price": 50000,
                    "currency": "IDR",
                }
            ],
        },
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {
                "name": "flow",
                "body": "Sent",
                "response_json": '{"size": "L", "colour": "blue"}',
            },
        },
    }
    for kind, content in rich.items():
        await world.control(
            f"customers/{customer}/messages",
            {"phone_number_id": sender["phone_number_id"], "type": kind, "content": content},
        )

    async def all_in() -> list[dict[str, Any]] | None:
        conversations = await _conversations(world, ctx)
        if not conversations:
            return None
        messages = await _messages(world, ctx, conversations[0])
        return messages if len(messages) == 5 else None

    messages = {m["type"]: m for m in await wait_for(all_in, within=5.0)}
    assert messages["location"]["body"] == "Monas"
    assert messages["location"]["payload"]["location"]["latitude"] == -6.2
    assert messages["contacts"]["body"] == "Siti Aminah"
    assert messages["order"]["payload"]["order"]["product_items"][0]["quantity"] == 2
    assert messages["interactive"]["body"] == "Sent"
    [conversation] = await _conversations(world, ctx)
    assert conversation["referral"]["headline"] == "Promo Desember"
