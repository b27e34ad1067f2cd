"""Sender health against the in-process simulator: Meta's refusals mark the sender, polls and
webhooks update it, admins get one alert per turn (live, listed, and signed to their
webhook), and new outreach fails over to the next healthy number."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from runtime.db.base import as_utc
from runtime.domain.sender_health import outreach_blocker, session_blocker
from runtime.models import Event, Sender
from tests.api.harness import TenantCtx
from tests.api.test_inbox import _messages
from tests.api.whatsapp_world import TOKEN, WhatsAppWorld
from tests.conftest import make_settings
from tests.support import free_port, wait_for


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[WhatsAppWorld]:
    """The health monitor looks every 50 ms; scheduled polls keep the default 300 s (tests
    advance the shared clock past it); sends may go 2 s past their slot on a loaded box."""
    settings = make_settings(
        database_url,
        sender_health_tick_seconds=0.05,
        outbound_late_tolerance_seconds=2.0,
        outbound_poll_seconds=0.05,
    )
    harness = WhatsAppWorld(settings, auto_statuses=())
    harness.app.state.outbound.wake()  # as the app's lifespan does: the monitor runs
    try:
        yield harness
    finally:
        await harness.close()


async def _health_round(world: WhatsAppWorld) -> None:
    """Wait for the monitor's round under way to finish (rounds run one after another): a
    poll already claimed has then been applied."""
    monitor = world.app.state.outbound.health
    start = monitor.completed_rounds

    async def done() -> bool:
        return bool(monitor.completed_rounds > start)

    await wait_for(done)


def _moment(iso: str) -> datetime:
    """A time the API gave (SQLite's come back without a zone; all are UTC)."""
    return as_utc(datetime.fromisoformat(iso))


def _customer() -> str:
    return f"62812{random.randrange(10**7):07d}"


async def _sender(world: WhatsAppWorld, ctx: TenantCtx, sender_id: str) -> dict[str, Any]:
    response = await world.client.get(f"/api/senders/{sender_id}", headers=ctx.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _alerts(world: WhatsAppWorld, ctx: TenantCtx, sender_id: str) -> list[dict[str, Any]]:
    response = await world.client.get(
        "/api/sender-alerts", headers=ctx.headers, params={"sender_id": sender_id}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _open_window(
    world: WhatsAppWorld, headers: dict[str, str], sender: dict[str, Any]
) -> dict[str, Any]:
    """A conversation the customer just wrote to on ``sender`` (window open)."""
    wa_id = _customer()
    await world.customer_says(sender, wa_id, "hi")

    async def found() -> dict[str, Any] | None:
        listed = await world.client.get("/api/conversations", headers=headers)
        return next(
            (c for c in listed.json()["items"] if c["contact"]["phone"] == "+" + wa_id), None
        )

    conversation: dict[str, Any] = await wait_for(found)
    return conversation


async def _closed_window(
    world: WhatsAppWorld, ctx: TenantCtx, headers: dict[str, str], sender: dict[str, Any]
) -> dict[str, Any]:
    """A conversation started by the agent on ``sender`` with a new contact (no window)."""
    contact = await world.client.post(
        "/api/contacts", headers=ctx.headers, json={"phone": "+" + _customer()}
    )
    assert contact.status_code == 201, contact.text
    started = await world.client.post(
        "/api/conversations",
        headers=headers,
        json={"contact_id": contact.json()["id"], "sender_id": sender["id"]},
    )
    assert started.status_code == 200, started.text
    return dict(started.json())


async def _send(
    world: WhatsAppWorld, headers: dict[str, str], conversation: dict[str, Any], body: Any
) -> Any:
    return await world.client.post(
        f"/api/conversations/{conversation['id']}/messages", headers=headers, json=body
    )


TEXT = {"type": "text", "text": "hello"}
WELCOME = {
    "type": "template",
    "template": {"name": "welcome", "language": "en_US", "parameters": {"body": []}},
}


async def _at_meta(world: WhatsAppWorld, message_id: str) -> list[dict[str, Any]]:
    data = (await world.sim.get("/_sim/messages")).json()["data"]
    return [m for m in data if m["callback_data"] == message_id]


async def _status_of(
    world: WhatsAppWorld, headers: dict[str, str], conversation_id: str, message_id: str
) -> dict[str, Any]:
    return next(
        m for m in await _messages(world, headers, conversation_id) if m["id"] == message_id
    )


async def test_token_refused_marks_the_sender_alerts_once_and_stops_its_sends(
    world: WhatsAppWorld,
) -> None:
    ctx = await world.new_tenant()
    agent, headers = await world.new_agent(ctx)
    sender = await world.add_sender(ctx, [agent["id"]])
    conversation = await _open_window(world, ctx.headers, sender)
    registered = sender["health_polled_at"]  # Meta's answer when the number was proven
    await world.control(f"phone_numbers/{sender['phone_number_id']}/token", {"access_token": "x"})

    refused = await _send(world, ctx.headers, conversation, TEXT)
    assert refused.status_code == 202, refused.text
    await world.sent()
    failed = await _status_of(world, ctx.headers, conversation["id"], refused.json()["id"])
    assert (failed["status"], failed["error_code"]) == ("failed", 190)
    assert "new token" in failed["error_advice"]

    async def polled() -> dict[str, Any] | None:  # the poll the refusal asked for, done
        marked = await _sender(world, ctx, sender["id"])
        return marked if _moment(marked["health_polled_at"]) > _moment(registered) else None

    await wait_for(polled)
    await _health_round(world)
    marked = await _sender(world, ctx, sender["id"])
    assert marked["health"] == "token_invalid" and marked["health_reason"].startswith("(190)")
    [alert] = await _alerts(world, ctx, sender["id"])  # the poll's 190 made no second alert
    assert (alert["kind"], alert["state"], alert["source"]) == (
        "token_invalid",
        "token_invalid",
        "send",
    )
    async with world.app.state.sessionmaker() as session:
        [event] = await session.scalars(
            select(Event).where(Event.tenant_id == ctx.id, Event.type == "sender.alert")
        )
    assert event.payload["id"] == alert["id"] and event.audience == ["alerts.all"]
    agent_view = await world.client.get("/api/sender-alerts", headers=headers)
    assert agent_view.status_code == 403  # agents hold senders:read, not alerts:read

    again = await _send(world, ctx.headers, conversation, TEXT)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sender_token_invalid"
    assert await _at_meta(world, refused.json()["id"]) == []

    # The admin sets a working token (Meta confirms it): the number sends again.
    await world.control(f"phone_numbers/{sender['phone_number_id']}/token", {"access_token": TOKEN})
    fixed = await world.client.patch(
        f"/api/senders/{sender['id']}", headers=ctx.headers, json={"access_token": TOKEN}
    )
    assert fixed.status_code == 200 and fixed.json()["health"] == "ok", fixed.text
    works = await _send(world, ctx.headers, conversation, TEXT)
    assert works.status_code == 202
    await world.sent()
    assert len(await _at_meta(world, works.json()["id"])) == 1


async def test_metas_refusal_codes_mark_the_senders_health(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    expected = {
        368: "restricted",
        131031: "restricted",
        131042: "payment_issue",
        131048: "restricted",
    }
    for code, health in expected.items():
        sender = await world.add_sender(ctx, [])
        conversation = await _open_window(world, ctx.headers, sender)
        await world.fail_next(sender["id"], code=code)
        sent = await _send(world, ctx.headers, conversation, TEXT)
        await world.sent()
        failed = await _status_of(world, ctx.headers, conversation["id"], sent.json()["id"])
        assert failed["error_code"] == code
        marked = await _sender(world, ctx, sender["id"])
        assert marked["health"] == health, code
        assert marked["health_reason"].startswith(f"({code})")
        assert [a["kind"] for a in await _alerts(world, ctx, sender["id"])] == [health]
    url = f"/api/senders/{sender['id']}"
    wrong = await world.client.patch(url, headers=ctx.headers, json={"health": "restricted"})
    assert wrong.status_code == 422  # an admin can only clear a mark, not set one
    cleared = await world.client.patch(url, headers=ctx.headers, json={"health": "ok"})
    assert cleared.status_code == 200 and cleared.json()["health"] == "ok", cleared.text


async def test_red_sender_is_skipped_for_new_outreach_but_its_open_window_stays(
    world: WhatsAppWorld,
) -> None:
    ctx = await world.new_tenant()
    agent, headers = await world.new_agent(ctx)
    first = await world.add_sender(ctx, [])
    second = await world.add_sender(ctx, [])
    allocated = await world.client.put(
        f"/api/senders/allocations/agents/{agent['id']}",
        headers=ctx.headers,
        json={"primary": first["id"], "secondaries": [second["id"]]},
    )
    assert allocated.status_code == 200, allocated.text
    await world.add_template("welcome", "Welcome!")
    assert (await world.client.post("/api/templates/sync", headers=ctx.headers)).status_code == 200
    window = await _open_window(world, ctx.headers, first)
    outreach = await _closed_window(world, ctx, headers, first)

    await world.control(f"phone_numbers/{first['phone_number_id']}/status", {"status": "FLAGGED"})

    async def flagged() -> bool:
        return (await _sender(world, ctx, first["id"]))["quality_rating"] == "RED"

    await wait_for(flagged)
    alerts = await _alerts(world, ctx, first["id"])
    assert sorted((a["kind"], a["state"], a["source"]) for a in alerts) == [
        ("flagged", "FLAGGED", "webhook"),
        ("quality", "RED", "webhook"),
    ]

    # The open window stays on its number.
    reply = await _send(world, ctx.headers, window, TEXT)
    assert reply.status_code == 202 and reply.json()["conversation_id"] == window["id"]
    # New outreach moves to the next healthy number of the agent's allocation.
    moved = await _send(world, headers, outreach, WELCOME)
    assert moved.status_code == 202, moved.text
    assert moved.json()["conversation_id"] != outreach["id"]
    await world.sent()
    [at_meta] = await _at_meta(world, moved.json()["id"])
    assert at_meta["phone_number_id"] == second["phone_number_id"]
    assert (await _at_meta(world, reply.json()["id"]))[0]["phone_number_id"] == first[
        "phone_number_id"
    ]
    for conversation_id in (outreach["id"], moved.json()["conversation_id"]):
        switches = await world.client.get(
            f"/api/conversations/{conversation_id}/sender-switches", headers=headers
        )
        assert switches.status_code == 200, switches.text
        [switch] = switches.json()
        assert (switch["from_sender_id"], switch["to_sender_id"], switch["reason"]) == (
            first["id"],
            second["id"],
            "FLAGGED",
        )
        assert switch["message_id"] == moved.json()["id"]

    # No healthy number left: a clear 409, for sending and for starting a conversation.
    await world.control(f"phone_numbers/{second['phone_number_id']}/status", {"status": "FLAGGED"})

    async def both_red() -> bool:
        return (await _sender(world, ctx, second["id"]))["quality_rating"] == "RED"

    await wait_for(both_red)
    stuck = await _closed_window(world, ctx, headers, first)
    refused = await _send(world, headers, stuck, WELCOME)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "no_healthy_sender"
    assert refused.json()["error"]["details"]["reason"] == "FLAGGED"
    routed = await world.client.post(
        "/api/conversations", headers=headers, json={"contact_id": stuck["contact"]["id"]}
    )
    assert routed.status_code == 409 and routed.json()["error"]["code"] == "no_healthy_sender"


async def _polled_after(
    world: WhatsAppWorld, ctx: TenantCtx, sender_id: str, moment: str
) -> dict[str, Any]:
    """Advance the shared clock past the poll interval; the sender once polled after
    ``moment``."""
    await world.control("clock/advance", {"seconds": 301})

    async def polled() -> dict[str, Any] | None:
        current = await _sender(world, ctx, sender_id)
        at = current["health_polled_at"]
        return current if _moment(at) > _moment(moment) else None

    await wait_for(polled, within=15.0)
    await _health_round(world)
    return await _sender(world, ctx, sender_id)


async def test_poll_picks_up_a_tier_change_and_alerts_once(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    assert (sender["quality_rating"], sender["number_status"]) == ("GREEN", "CONNECTED")
    baseline = await _polled_after(world, ctx, sender["id"], sender["health_polled_at"])
    assert (baseline["throughput_level"], baseline["throughput_mps"]) == ("STANDARD", 80)
    assert baseline["number_status"] == "CONNECTED" and baseline["name_status"] == "APPROVED"
    assert await _alerts(world, ctx, sender["id"]) == []

    number = world.engine.state.phone_numbers[sender["phone_number_id"]]
    number.messaging_limit_tier, number.throughput_level = "TIER_10K", "HIGH"  # no webhook
    upgraded = await _polled_after(world, ctx, sender["id"], baseline["health_polled_at"])
    assert upgraded["messaging_limit_tier"] == "TIER_10K"
    assert upgraded["throughput_mps"] == 1000  # Meta's throughput upgrade
    again = await _polled_after(world, ctx, sender["id"], upgraded["health_polled_at"])
    assert again["messaging_limit_tier"] == "TIER_10K"
    # ... and the webhook telling the same tier changes nothing either.
    await world.control(
        f"phone_numbers/{sender['phone_number_id']}/quality", {"messaging_limit_tier": "TIER_10K"}
    )
    await world.ingested()
    [alert] = await _alerts(world, ctx, sender["id"])
    assert (alert["kind"], alert["state"], alert["previous"], alert["source"]) == (
        "tier",
        "TIER_10K",
        "TIER_250",
        "poll",
    )


class _Receiver:
    """A real HTTP endpoint on loopback: answers the first ``failures`` requests 500, then
    200; keeps every request's headers and body."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((headers, body))
        failed = len(self.requests) <= self.failures
        status = b"500 Internal Server Error" if failed else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_alert_webhook_is_signed_and_retried(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    receiver = _Receiver(failures=1)
    await receiver.start()
    secret = "alert-secret-" + "s" * 20
    try:
        url = f"http://127.0.0.1:{receiver.port}/hooks/scrm"
        bad = await world.client.put(
            "/api/sender-alerts/webhook",
            headers=ctx.headers,
            json={"url": "ftp://x", "secret": "short"},
        )
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["error"]["details"]} == {"url", "secret"}
        put = await world.client.put(
            "/api/sender-alerts/webhook", headers=ctx.headers, json={"url": url, "secret": secret}
        )
        assert put.status_code == 200, put.text
        shown = await world.client.get("/api/sender-alerts/webhook", headers=ctx.headers)
        assert shown.json()["url"] == url and secret not in put.text + shown.text

        await world.control(
            f"phone_numbers/{sender['phone_number_id']}/quality",
            {"messaging_limit_tier": "TIER_2K"},
        )

        async def attempted(times: int) -> bool:
            return len(receiver.requests) >= times

        await wait_for(lambda: attempted(1), within=10.0)
        await world.control("clock/advance", {"seconds": 3})  # past the first retry's 2 s
        await wait_for(lambda: attempted(2), within=10.0)
    finally:
        await receiver.close()

    [alert] = await _alerts(world, ctx, sender["id"])
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-scrm-signature"], expected)
        delivered = json.loads(body)
        assert delivered["type"] == "sender.alert" and delivered["alert"]["id"] == alert["id"]
        assert delivered["alert"]["state"] == "TIER_2K"
    assert len(receiver.requests) == 2  # one refused, one accepted: no further retries

    marked = await world.client.post(
        "/api/sender-alerts/read", headers=ctx.headers, json={"ids": [alert["id"]]}
    )
    assert marked.json() == {"marked": 1}
    unread = await world.client.get(
        "/api/sender-alerts", headers=ctx.headers, params={"unread": "true"}
    )
    assert unread.json()["items"] == []
    read_at = (await _alerts(world, ctx, sender["id"]))[0]["read_at"]
    assert datetime.fromisoformat(read_at)
    neither = await world.client.post("/api/sender-alerts/read", headers=ctx.headers, json={})
    assert neither.status_code == 422


def test_who_may_send_and_who_may_start_outreach() -> None:
    """The two blockers the API, the allocation rule and the worker share."""

    def sender(**fields: str) -> Sender:
        values = {"status": "active", "health": "ok", "quality_rating": "GREEN"}
        return Sender(display_number="+1555", **(values | {"number_status": "CONNECTED"} | fields))

    assert (session_blocker(sender()), outreach_blocker(sender())) == (None, None)
    assert outreach_blocker(sender(quality_rating="YELLOW")) is None
    for fields, reason in [
        ({"quality_rating": "RED"}, "RED"),
        ({"number_status": "FLAGGED"}, "FLAGGED"),
        ({"number_status": "BANNED"}, "BANNED"),
        ({"health": "restricted"}, "restricted"),
        ({"health": "payment_issue"}, "payment_issue"),
    ]:
        unfit = sender(**fields)
        assert (session_blocker(unfit), outreach_blocker(unfit)) == (None, reason), fields
    for fields, reason in [
        ({"health": "token_invalid"}, "token_invalid"),
        ({"status": "paused"}, "paused"),
    ]:
        stopped = sender(**fields)
        assert session_blocker(stopped) == outreach_blocker(stopped) == reason, fields
