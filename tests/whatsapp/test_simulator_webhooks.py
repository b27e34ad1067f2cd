"""Signed webhook delivery: progression, retries, duplicates, ordering and events."""

from __future__ import annotations

from typing import Any

from tests.support import free_port, wait_for

from .support import (
    CUSTOMER,
    PHONE_ID,
    TOKEN,
    WABA_ID,
    Receiver,
    Sim,
    SimFactory,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def send_text(sim: Sim) -> str:
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "ok"}}
    response = await sim.http.post(f"/v25.0/{PHONE_ID}/messages", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    message_id: str = response.json()["messages"][0]["id"]
    return message_id


async def delivery(sim: Sim, delivery_id: int, state: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = next(d for d in await sim.webhooks() if d["id"] == delivery_id)
        return found if found["state"] == state else None

    result: dict[str, Any] = await wait_for(reached)
    return result


async def test_inbound_message_is_signed_and_statuses_progress(make_sim: SimFactory) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver)
    inbound = await sim.customer_says("Does it come in blue?")
    message_id = await send_text(sim)

    async def read() -> bool:
        return [s["status"] for s in receiver.statuses()] == ["sent", "delivered", "read"]

    await wait_for(read)
    assert all(receiver.signatures_ok)
    [incoming] = [v for v in receiver.values() if "messages" in v]
    assert incoming["messages"][0]["id"] == inbound
    assert incoming["messages"][0]["text"] == {"body": "Does it come in blue?"}
    sent, delivered, read_status = receiver.statuses()
    assert {s["id"] for s in (sent, delivered, read_status)} == {message_id}
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    assert "pricing" in delivered and "pricing" not in read_status
    stored = (await sim.http.get(f"/_sim/messages/{message_id}")).json()
    assert stored["status"] == "read"


async def test_non_200_is_retried_until_acknowledged(make_sim: SimFactory) -> None:
    receiver = Receiver(fail_first=2)
    sim = await make_sim(receiver=receiver)
    result = await sim.control(
        f"customers/{CUSTOMER}/messages", {"phone_number_id": PHONE_ID, "type": "image"}
    )
    done = await delivery(sim, result["delivery_id"], "delivered")
    assert [a["status_code"] for a in done["attempts"]] == [500, 500, 200]
    [image] = receiver.values()
    assert image["messages"][0]["type"] == "image"
    assert set(image["messages"][0]["image"]) == {"mime_type", "sha256", "id"}


async def test_unreachable_receiver_gives_up_after_bounded_attempts(make_sim: SimFactory) -> None:
    sim = await make_sim(webhook_url=f"http://127.0.0.1:{free_port()}/webhook")
    message_id = await sim.customer_says()
    failed = await delivery(sim, 1, "failed")
    assert len(failed["attempts"]) == 4
    assert all(
        a["status_code"] is None and "ConnectError" in a["error"] for a in failed["attempts"]
    )
    assert failed["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == message_id


async def test_redelivery_sends_a_duplicate(make_sim: SimFactory) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver)
    await sim.customer_says()
    await delivery(sim, 1, "delivered")
    duplicate = await sim.control("webhooks/1/redeliver")
    assert (await delivery(sim, duplicate["delivery_id"], "delivered"))["duplicate_of"] == 1
    assert len(receiver.bodies) == 2 and receiver.bodies[0] == receiver.bodies[1]


async def test_statuses_on_demand_and_out_of_order(make_sim: SimFactory) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver, auto_statuses=())
    await sim.customer_says()
    message_id = await send_text(sim)
    result = await sim.control(
        f"messages/{message_id}/statuses", {"statuses": ["read", "delivered"]}
    )
    await delivery(sim, result["delivery_ids"][-1], "delivered")
    assert [s["status"] for s in receiver.statuses()] == ["sent", "read", "delivered"]
    failed = await sim.control(
        f"messages/{message_id}/statuses", {"statuses": ["failed"], "error_code": 131026}
    )
    await delivery(sim, failed["delivery_ids"][0], "delivered")
    assert receiver.statuses()[-1]["errors"][0]["code"] == 131026


async def test_template_sends_are_priced_by_category(make_sim: SimFactory) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver, auto_statuses=())
    await sim.control("templates", {"waba_id": WABA_ID, "name": "promo", "category": "MARKETING"})
    body = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {"name": "promo", "language": {"code": "en_US"}},
    }
    response = await sim.http.post(f"/v25.0/{PHONE_ID}/messages", json=body, headers=AUTH)
    assert response.json()["messages"][0]["message_status"] == "accepted"
    await delivery(sim, 1, "delivered")
    assert receiver.statuses()[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "marketing",
    }


async def test_quality_and_template_status_events(make_sim: SimFactory) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver)
    quality = await sim.control(
        f"phone_numbers/{PHONE_ID}/quality", {"messaging_limit_tier": "TIER_2K"}
    )
    assert quality["phone_number"]["whatsapp_business_manager_messaging_limit"] == "TIER_2K"
    template_id = next(iter(sim.engine.state.templates))
    status = await sim.control(f"templates/{template_id}/status", {"status": "PAUSED"})
    await delivery(sim, status["delivery_id"], "delivered")
    [quality_value] = receiver.values("phone_number_quality_update")
    assert quality_value == {
        "display_phone_number": "15550783881",
        "event": "UPGRADE",
        "old_limit": "TIER_250",
        "current_limit": "TIER_2K",
        "max_daily_conversations_per_business": "TIER_2K",
    }
    [template_value] = receiver.values("message_template_status_update")
    assert template_value["event"] == "PAUSED"
    assert template_value["message_template_id"] == template_id
    assert all(isinstance(body["entry"][0]["time"], int) for body in receiver.bodies)


async def test_unsupported_inbound_message(make_sim: SimFactory) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver)
    result = await sim.control(
        f"customers/{CUSTOMER}/messages",
        {"phone_number_id": PHONE_ID, "type": "unsupported", "name": "Sheena"},
    )
    await delivery(sim, result["delivery_id"], "delivered")
    [value] = receiver.values()
    assert value["contacts"] == [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}]
    assert value["messages"][0]["errors"][0]["code"] == 131051


async def test_health(sim: Sim) -> None:
    assert (await sim.http.get("/_sim/health")).json() == {"status": "ok"}
