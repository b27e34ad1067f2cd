"""Marketing consent and outreach eligibility: opt-out/opt-in through the real webhook path,
refusals and deferrals in the template send path, the rules' API, isolation, permissions."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from runtime.domain.eligibility import Eligibility, check_outreach
from runtime.models import Contact, Event, Message
from runtime.settings import Settings
from runtime.whatsapp import webhooks
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
from tests.api.harness import ApiHarness, TenantCtx
from tests.api.whatsapp_world import WABA_ID, WhatsAppWorld
from tests.support import wait_for

CUSTOMER = "6281234567001"
JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.fixture
async def still_world(settings: Settings) -> AsyncIterator[WhatsAppWorld]:
    """A world whose sent messages get only the statuses a test emits."""
    harness = WhatsAppWorld(settings, auto_statuses=())
    try:
        yield harness
    finally:
        await harness.close()


async def _templates(world: WhatsAppWorld, ctx: TenantCtx) -> None:
    await world.add_template("promo", "Sale {{1}} today", category="MARKETING")
    await world.add_template("receipt", "Your receipt {{1}}")  # UTILITY
    synced = await world.client.post("/api/templates/sync", headers=ctx.headers)
    assert synced.status_code == 200, synced.text


async def _conversation(
    world: WhatsAppWorld, ctx: TenantCtx, sender: dict[str, Any], text: str = "halo"
) -> dict[str, Any]:
    await world.customer_says(sender, CUSTOMER, text)

    async def one() -> list[Any]:
        r = await world.client.get("/api/conversations", headers=ctx.headers)
        return list(r.json()["items"])

    [conversation] = await wait_for(one)
    return dict(conversation)


async def _setup(world: WhatsAppWorld) -> tuple[TenantCtx, dict[str, Any], dict[str, Any]]:
    """A tenant, its number, a marketing and a utility template, and a customer's chat."""
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    await _templates(world, ctx)
    return ctx, sender, await _conversation(world, ctx, sender)


async def _send(
    api: ApiHarness, headers: dict[str, str], conversation: dict[str, Any], name: str
) -> Any:
    template = {"name": name, "language": "en_US", "parameters": {"body": ["x"]}}
    return await api.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=headers,
        json={"type": "template", "template": template},
    )


async def _consent(api: ApiHarness, headers: dict[str, str], contact_id: str) -> dict[str, Any]:
    r = await api.client.get(f"/api/contacts/{contact_id}/consent", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _state_becomes(
    api: ApiHarness, headers: dict[str, str], contact_id: str, state: str
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        consent = await _consent(api, headers, contact_id)
        return consent if consent["state"] == state else None

    return dict(await wait_for(reached))


async def _put_policy(api: ApiHarness, ctx: TenantCtx, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.client.put("/api/consent/policy", headers=ctx.headers, json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _wamid_once_sent(
    world: WhatsAppWorld, headers: dict[str, str], conversation: dict[str, Any], message_id: str
) -> str:
    """The wamid Meta gave a queued message, once the worker handed it over."""
    await world.sent()
    listed = await world.client.get(
        f"/api/conversations/{conversation['id']}/messages", headers=headers
    )
    [wamid] = [m["wamid"] for m in listed.json()["items"] if m["id"] == message_id]
    assert wamid is not None
    return str(wamid)


async def _stored_outbound(api: ApiHarness) -> int:
    async with api.app.state.sessionmaker() as session:
        rows = await session.scalars(select(Message.id).where(Message.direction == "outbound"))
        return len(list(rows))


@pytest.mark.parametrize(
    ("stop", "start"), [(" stop ", "START"), ("BERHENTI", "mulai"), ("Unsubscribe", "Mulai")]
)
async def test_keywords_opt_out_and_back_in_through_the_webhook(
    world: WhatsAppWorld, stop: str, start: str
) -> None:
    ctx, sender, conversation = await _setup(world)
    contact_id = conversation["contact"]["id"]
    assert (await _consent(world, ctx.headers, contact_id))["state"] == "unknown"

    await world.customer_says(sender, CUSTOMER, "please stop calling me at night")
    await world.customer_says(sender, CUSTOMER, stop)
    out = await _state_becomes(world, ctx.headers, contact_id, "opted_out")
    [change] = out["history"]
    assert (change["source"], change["detail"]) == ("keyword", stop.strip().lower())
    refused = await _send(world, ctx.headers, conversation, "promo")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "contact_opted_out"

    await world.customer_says(sender, CUSTOMER, start)
    back = await _state_becomes(world, ctx.headers, contact_id, "opted_in")
    assert [c["state"] for c in back["history"]] == ["opted_in", "opted_out"]
    assert (await _send(world, ctx.headers, conversation, "promo")).status_code == 202

    async with world.app.state.sessionmaker() as session:
        events = list(
            await session.scalars(
                select(Event)
                .where(Event.tenant_id == ctx.id, Event.type == "contact.consent_changed")
                .order_by(Event.seq)
            )
        )
    assert [e.payload["state"] for e in events] == ["opted_out", "opted_in"]
    assert all("contacts.all" in e.audience for e in events)  # whoever sees the contact


async def test_a_new_customers_first_message_stop_opts_out(world: WhatsAppWorld) -> None:
    """The contact is created and opted out by the same message (one flush)."""
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    conversation = await _conversation(world, ctx, sender, "STOP")
    consent = await _state_becomes(world, ctx.headers, conversation["contact"]["id"], "opted_out")
    assert [c["source"] for c in consent["history"]] == ["keyword"]


def _button_reply(sender: dict[str, Any], kind: str, payload: str, title: str) -> bytes:
    number = webhooks.BusinessNumber(WABA_ID, sender["phone_number_id"], sender["display_number"])
    reply = {"type": "button_reply", "button_reply": {"id": payload, "title": title}}
    content = (
        {"button": {"payload": payload, "text": title}}
        if kind == "button"
        else {"interactive": reply}
    )
    body = webhooks.inbound_message(
        number,
        webhooks.Customer(CUSTOMER, "Budi"),
        message_id=f"wamid.{uuid.uuid4().hex}",
        timestamp=int(datetime.now(UTC).timestamp()),
        type=kind,
        content=content,
    )
    return json.dumps(body).encode()


@pytest.mark.parametrize("kind", ["button", "interactive"])
async def test_opt_out_quick_reply_payload_opts_out(world: WhatsAppWorld, kind: str) -> None:
    ctx, sender, conversation = await _setup(world)
    contact_id = conversation["contact"]["id"]
    await _put_policy(world, ctx, {"opt_out_payloads": ["PROMO_STOP"]})
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    for payload in ("SOMETHING_ELSE", "PROMO_STOP"):
        body = _button_reply(sender, kind, payload, "No more offers")
        r = await world.client.post(
            "/webhooks/whatsapp",
            content=body,
            headers={SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
    out = await _state_becomes(world, ctx.headers, contact_id, "opted_out")
    assert [(c["source"], c["detail"]) for c in out["history"]] == [("quick_reply", "PROMO_STOP")]


async def test_meta_131050_on_a_status_opts_out(still_world: WhatsAppWorld) -> None:
    world = still_world
    ctx, _, conversation = await _setup(world)
    contact_id = conversation["contact"]["id"]
    sent = await _send(world, ctx.headers, conversation, "promo")
    assert sent.status_code == 202, sent.text
    wamid = await _wamid_once_sent(world, ctx.headers, conversation, sent.json()["id"])
    failed = {"statuses": ["failed"], "error_code": 131050}
    await world.control(f"messages/{wamid}/statuses", failed)
    out = await _state_becomes(world, ctx.headers, contact_id, "opted_out")
    assert [(c["source"], c["detail"]) for c in out["history"]] == [("meta_131050", wamid)]
    refused = await _send(world, ctx.headers, conversation, "promo")
    assert refused.json()["error"]["code"] == "contact_opted_out"


async def test_opted_out_contact_refused_marketing_but_sent_utility(world: WhatsAppWorld) -> None:
    ctx, _, conversation = await _setup(world)
    contact_id = conversation["contact"]["id"]
    _, agent = await world.new_agent(ctx, role="supervisor")
    put = await world.client.put(
        f"/api/contacts/{contact_id}/consent",
        headers=ctx.headers,
        json={"state": "opted_out", "source": "agent", "note": "asked on the phone"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["history"][0]["source"] == "agent"
    before = await _stored_outbound(world)
    for headers in (ctx.headers, agent):  # the API's caller and an agent alike
        refused = await _send(world, headers, conversation, "promo")
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "contact_opted_out" and error["details"]["rule"] == error["code"]
    assert await _stored_outbound(world) == before  # nothing stored, nothing sent

    utility = await _send(world, ctx.headers, conversation, "receipt")
    assert utility.status_code == 202, utility.text
    wamid = await _wamid_once_sent(world, ctx.headers, conversation, utility.json()["id"])
    on_meta = (await world.sim.get(f"/_sim/messages/{wamid}")).json()
    assert on_meta["to"].lstrip("+") == CUSTOMER


async def test_do_not_contact_refuses_every_template_until_removed(world: WhatsAppWorld) -> None:
    ctx, _, conversation = await _setup(world)
    added = await world.client.post(
        "/api/consent/do-not-contact",
        headers=ctx.headers,
        json={"phone": "0812-3456-7001", "reason": "legal request"},
    )
    assert added.status_code == 201, added.text
    assert added.json()["phone"] == "+" + CUSTOMER
    for template in ("promo", "receipt"):
        refused = await _send(world, ctx.headers, conversation, template)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "contact_do_not_contact"
    reply = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=ctx.headers,
        json={"type": "text", "text": "Noted, we will not write again."},
    )
    assert reply.status_code == 202, reply.text  # answering the customer is not outreach
    consent = await _consent(world, ctx.headers, conversation["contact"]["id"])
    assert consent["do_not_contact"] is True

    removed = await world.client.delete(
        f"/api/consent/do-not-contact/{added.json()['id']}", headers=ctx.headers
    )
    assert removed.status_code == 204
    assert (await _send(world, ctx.headers, conversation, "receipt")).status_code == 202


async def test_marketing_cooldown_refuses_the_n_plus_first(world: WhatsAppWorld) -> None:
    ctx, _, conversation = await _setup(world)
    await _put_policy(world, ctx, {"marketing_limit": {"count": 2, "days": 7}})
    first = await _send(world, ctx.headers, conversation, "promo")
    assert first.status_code == 202, first.text
    await world.control("clock/advance", {"seconds": 3600})
    assert (await _send(world, ctx.headers, conversation, "promo")).status_code == 202
    assert (await _send(world, ctx.headers, conversation, "receipt")).status_code == 202

    refused = await _send(world, ctx.headers, conversation, "promo")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "marketing_cooldown" and "131049" in error["message"]
    next_at = datetime.fromisoformat(first.json()["created_at"]) + timedelta(days=7)
    assert datetime.fromisoformat(error["details"]["next_allowed_at"]) == next_at
    assert error["details"] | {"next_allowed_at": None} == {
        "rule": "marketing_cooldown",
        "limit": 2,
        "window_days": 7,
        "next_allowed_at": None,
        "meta_error_code": 131049,
    }
    assert (await _send(world, ctx.headers, conversation, "receipt")).status_code == 202

    await world.control("clock/advance", {"seconds": 7 * 86400 - 3600 + 1})
    assert (await _send(world, ctx.headers, conversation, "promo")).status_code == 202


async def test_quiet_hours_queue_the_send_until_they_end(world: WhatsAppWorld) -> None:
    ctx, _, conversation = await _setup(world)
    now = datetime.fromtimestamp((await world.sim.get("/_sim/clock")).json()["now"], UTC)
    jakarta = now.astimezone(JAKARTA)
    start = (jakarta - timedelta(hours=1)).strftime("%H:%M")
    end = (jakarta + timedelta(hours=2)).strftime("%H:%M")
    await _put_policy(world, ctx, {"quiet_hours": {"start": start, "end": end}})

    deferred = await _send(world, ctx.headers, conversation, "promo")
    assert deferred.status_code == 202, deferred.text
    queued = deferred.json()
    assert (queued["status"], queued["queue"]["reason"]) == ("queued", "eligibility")
    until = datetime.fromisoformat(queued["queue"]["not_before"])
    expected = (jakarta + timedelta(hours=2)).replace(second=0, microsecond=0)
    assert until == expected
    receipt = await _send(world, ctx.headers, conversation, "receipt")
    assert receipt.status_code == 202, receipt.text
    assert (receipt.json()["queue"] or {}).get("reason") != "eligibility"


async def _contact(api: ApiHarness, ctx: TenantCtx, phone: str, **fields: Any) -> str:
    r = await api.client.post(
        "/api/contacts", headers=ctx.headers, json={"phone": phone, "name": "C", **fields}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _check(
    api: ApiHarness, ctx: TenantCtx, contact_id: str, category: str, now: datetime
) -> Eligibility:
    async with api.app.state.sessionmaker() as session:
        contact = await session.get(Contact, uuid.UUID(contact_id))
        assert contact is not None
        return await check_outreach(session, ctx.id, contact, category, now)


async def test_quiet_hours_defer_to_their_end_in_the_contacts_time_zone(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    await _put_policy(api, ctx, {"quiet_hours": {"start": "21:00", "end": "08:00"}})
    jakarta = await _contact(api, ctx, "081234560001")  # no zone: the tenant's Asia/Jakarta
    jayapura = await _contact(api, ctx, "081234560002", time_zone="Asia/Jayapura")  # UTC+9
    new_york = await _contact(api, ctx, "+12025550123", time_zone="America/New_York")

    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 19:00 in Jakarta, 21:00 in Jayapura
    assert (await _check(api, ctx, jakarta, "MARKETING", at)).allowed
    verdict = await _check(api, ctx, jayapura, "MARKETING", at)
    assert (verdict.outcome, verdict.rule) == ("deferred", "quiet_hours")
    assert verdict.until == datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 08:00 next day, UTC+9

    at = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)  # 21:30 in Jakarta
    assert (await _check(api, ctx, jakarta, "MARKETING", at)).until == datetime(
        2026, 3, 11, 1, 0, tzinfo=UTC
    )
    assert (await _check(api, ctx, jakarta, "UTILITY", at)).allowed
    assert (await _check(api, ctx, jakarta, "AUTHENTICATION", at)).allowed

    # 22:00 EST on the night clocks go forward: quiet until 08:00 EDT (UTC-4), not EST.
    at = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    assert (await _check(api, ctx, new_york, "MARKETING", at)).until == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )
    at = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT: the window just ended
    assert (await _check(api, ctx, new_york, "MARKETING", at)).allowed

    # The tenant's default zone moves contacts without one (Asia/Makassar is UTC+8).
    await _put_policy(api, ctx, {"default_time_zone": "Asia/Makassar"})
    at = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 20:30 Makassar
    assert (await _check(api, ctx, jakarta, "MARKETING", at)).allowed
    at = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)  # 21:30 Makassar
    assert (await _check(api, ctx, jakarta, "MARKETING", at)).until == datetime(
        2026, 3, 11, 0, 0, tzinfo=UTC
    )


async def test_policy_round_trip_and_defaults(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    defaults = (await api.client.get("/api/consent/policy", headers=ctx.headers)).json()
    assert defaults == {
        "opt_out_keywords": ["STOP", "BERHENTI", "UNSUBSCRIBE"],
        "opt_in_keywords": ["START", "MULAI"],
        "opt_out_payloads": [],
        "marketing_limit": None,
        "quiet_hours": None,
        "default_time_zone": "Asia/Jakarta",
        "updated_at": None,
    }
    changed = await _put_policy(
        api,
        ctx,
        {
            "opt_out_keywords": ["STOP", "stop ", "Jangan kirim"],
            "marketing_limit": {"count": 3, "days": 30},
            "quiet_hours": {"start": "21:00", "end": "08:00"},
        },
    )
    assert changed["opt_out_keywords"] == ["STOP", "Jangan kirim"]  # same keyword once
    assert changed["opt_in_keywords"] == ["START", "MULAI"]  # left out: kept
    off = await _put_policy(api, ctx, {"quiet_hours": None})
    assert off["quiet_hours"] is None and off["marketing_limit"] == {"count": 3, "days": 30}
    again = (await api.client.get("/api/consent/policy", headers=ctx.headers)).json()
    assert again == off


async def test_garbage_on_every_new_endpoint_is_a_clear_4xx(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    contact = await _contact(api, ctx, "081234560001")
    h = ctx.headers
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("PUT", "/api/consent/policy", {"quiet_hours": {"start": "25:00", "end": "08:00"}},
         422, "validation_error"),
        ("PUT", "/api/consent/policy", {"quiet_hours": {"start": "08:00", "end": "08:00"}},
         422, "validation_error"),
        ("PUT", "/api/consent/policy", {"marketing_limit": {"count": 0, "days": 7}},
         422, "validation_error"),
        ("PUT", "/api/consent/policy", {"default_time_zone": "Mars/Olympus_Mons"},
         422, "validation_error"),
        ("PUT", "/api/consent/policy", {"opt_out_keywords": []}, 422, "validation_error"),
        ("PUT", "/api/consent/policy", {"opt_out_keywords": ["x" * 51]}, 422, "validation_error"),
        ("PUT", "/api/consent/policy", {"opt_out_keywords": "STOP"}, 422, "validation_error"),
        ("PUT", "/api/consent/policy", {"opt_in_keywords": ["Stop"]}, 422, "keyword_conflict"),
        ("PUT", f"/api/contacts/{contact}/consent", {"state": "maybe"}, 422, "validation_error"),
        ("PUT", f"/api/contacts/{contact}/consent", {"state": "opted_out", "source": "meta_131050"},
         422, "validation_error"),
        ("PUT", f"/api/contacts/{uuid.uuid4()}/consent", {"state": "opted_out"}, 404, "not_found"),
        ("GET", "/api/contacts/not-a-uuid/consent", {}, 422, "validation_error"),
        ("POST", "/api/consent/do-not-contact", {"phone": "not a phone"}, 422, "invalid_phone"),
        ("POST", "/api/consent/do-not-contact", {"reason": "no phone"}, 422, "validation_error"),
        ("POST", "/api/consent/do-not-contact/bulk", {"phones": []}, 422, "validation_error"),
        ("DELETE", f"/api/consent/do-not-contact/{uuid.uuid4()}", {}, 404, "not_found"),
        ("GET", "/api/consent/do-not-contact?cursor=%%%", {}, 422, "invalid_cursor"),
        ("GET", "/api/consent/do-not-contact?limit=0", {}, 422, "validation_error"),
        ("PATCH", f"/api/contacts/{contact}", {"time_zone": "Nowhere/Land"},
         422, "invalid_time_zone"),
        ("POST", "/api/contacts", {"phone": "081234560002", "time_zone": "../../etc/passwd"},
         422, "invalid_time_zone"),
    ]  # fmt: skip
    for method, url, body, status, code in cases:
        r = await api.request(method, url, headers=h, json=body or None)
        assert r.status_code == status, (method, url, body, r.text)
        assert r.json()["error"]["code"] == code, (method, url, body, r.text)
        assert r.json()["error"]["message"]

    first = await api.client.post("/api/consent/do-not-contact", headers=h, json={"phone": "0811"})
    assert first.status_code == 422  # too short to be a number
    ok = {"phone": "081234560003"}
    assert (
        await api.client.post("/api/consent/do-not-contact", headers=h, json=ok)
    ).status_code == 201
    twice = await api.client.post("/api/consent/do-not-contact", headers=h, json=ok)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_on_list"

    for content, code in [
        (b"name\nBudi\n", "missing_phone_column"),
        (b"phone\n\xff\xfe\n", "invalid_encoding"),
        (b"", "empty_file"),
    ]:
        r = await api.client.post(
            "/api/consent/do-not-contact/imports",
            headers=h,
            files={"file": ("dnc.csv", io.BytesIO(content), "text/csv")},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    no_file = await api.client.post("/api/consent/do-not-contact/imports", headers=h)
    assert no_file.status_code == 422


async def test_do_not_contact_imports_report_by_line(world: WhatsAppWorld) -> None:
    ctx, _, conversation = await _setup(world)
    csv = (
        "Nomor HP;Nama;reason\n"
        "0812-3456-7001;Budi;complained\n"
        "garbage;X;\n"
        "+62 812 3456 7002;Sari;\n"
        "0812-3456-7001;Budi again;\n"
    )
    r = await world.client.post(
        "/api/consent/do-not-contact/imports",
        headers=ctx.headers,
        files={"file": ("dnc.csv", io.BytesIO(csv.encode()), "text/csv")},
        data={"mapping": json.dumps({"phone": "Nomor HP"}), "reason": "list of 2026-11"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["total_rows"], report["added"], report["error_count"]) == (4, 2, 1)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(3, "invalid_phone")]

    bulk = await world.client.post(
        "/api/consent/do-not-contact/bulk",
        headers=ctx.headers,
        json={"phones": ["081234567002", "081234567003", "nope"], "reason": "api"},
    )
    assert bulk.status_code == 200, bulk.text
    assert (bulk.json()["added"], bulk.json()["already_listed"]) == (1, 1)
    assert [(e["line"], e["code"]) for e in bulk.json()["errors"]] == [(2, "invalid_phone")]

    listed = (await world.client.get("/api/consent/do-not-contact", headers=ctx.headers)).json()
    by_phone = {e["phone"]: e for e in listed["items"]}
    assert set(by_phone) == {"+6281234567001", "+6281234567002", "+6281234567003"}
    assert by_phone["+6281234567001"]["reason"] == "complained"
    assert by_phone["+6281234567002"]["reason"] == "list of 2026-11"
    assert by_phone["+6281234567002"]["source"] == "import"
    found = await world.client.get(
        "/api/consent/do-not-contact", headers=ctx.headers, params={"q": "7003"}
    )
    assert [e["phone"] for e in found.json()["items"]] == ["+6281234567003"]
    refused = await _send(world, ctx.headers, conversation, "receipt")
    assert refused.json()["error"]["code"] == "contact_do_not_contact"


async def test_other_tenants_consent_and_rules_are_invisible(api: ApiHarness) -> None:
    a, b = await api.new_tenant(), await api.new_tenant()
    b_contact = await _contact(api, b, "081234560001")
    await _put_policy(
        api, b, {"opt_out_keywords": ["BASTA"], "quiet_hours": {"start": "20:00", "end": "09:00"}}
    )
    b_entry = await api.client.post(
        "/api/consent/do-not-contact", headers=b.headers, json={"phone": "081234560009"}
    )
    for method, url, body in [
        ("GET", f"/api/contacts/{b_contact}/consent", None),
        ("PUT", f"/api/contacts/{b_contact}/consent", {"state": "opted_out"}),
        ("DELETE", f"/api/consent/do-not-contact/{b_entry.json()['id']}", None),
    ]:
        r = await api.request(method, url, headers=a.headers, json=body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (url, r.text)
    a_policy = (await api.client.get("/api/consent/policy", headers=a.headers)).json()
    assert a_policy["opt_out_keywords"] == ["STOP", "BERHENTI", "UNSUBSCRIBE"]
    assert a_policy["quiet_hours"] is None
    a_list = (await api.client.get("/api/consent/do-not-contact", headers=a.headers)).json()
    assert a_list["items"] == []
    # A's own copy of the number is not on B's list.
    a_contact = await _contact(api, a, "081234560009")
    assert (await _consent(api, a.headers, a_contact))["do_not_contact"] is False
    assert (await _consent(api, b.headers, b_contact))["state"] == "unknown"


async def test_consent_permissions(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, agent_h = await api.new_agent(ctx)  # built-in agent role
    _, supervisor_h = await api.new_agent(ctx, role="supervisor")
    contact = await _contact(api, ctx, "081234560001")
    assign = await api.client.post(
        f"/api/contacts/{contact}/assign", headers=ctx.headers, json={"agent_id": agent["id"]}
    )
    assert assign.status_code == 200, assign.text
    opt_out = {"state": "opted_out"}
    policy = {"quiet_hours": None}
    dnc = {"phone": "081234560002"}
    expectations = [
        ("GET", f"/api/contacts/{contact}/consent", None, 200, 200),
        ("PUT", f"/api/contacts/{contact}/consent", opt_out, 403, 403),
        ("GET", "/api/consent/policy", None, 403, 200),
        ("PUT", "/api/consent/policy", policy, 403, 403),
        ("GET", "/api/consent/do-not-contact", None, 403, 200),
        ("POST", "/api/consent/do-not-contact", dnc, 403, 403),
        ("POST", "/api/consent/do-not-contact/bulk", {"phones": ["081234560002"]}, 403, 403),
    ]
    for method, url, body, as_agent, as_supervisor in expectations:
        for headers, expected in ((agent_h, as_agent), (supervisor_h, as_supervisor)):
            r = await api.request(method, url, headers=headers, json=body)
            assert r.status_code == expected, (method, url, r.text)
            if expected == 403:
                assert r.json()["error"]["code"] == "permission_denied"
    for method, url, body, _, _ in expectations:  # the admin holds both permissions
        r = await api.request(method, url, headers=ctx.headers, json=body)
        assert r.status_code in (200, 201), (method, url, r.text)
    # A custom role with consent:write but only its own contacts cannot touch others'.
    _, writer = await api.new_agent(ctx, permissions=["consent:write", "contacts:read:assigned"])
    r = await api.client.put(f"/api/contacts/{contact}/consent", headers=writer, json=opt_out)
    assert r.status_code == 404
