"""Audiences evaluated in SQL, campaigns from draft to results against the simulator: rate
cap, send window, frequency cap, eligibility, warm-up, auto-pause, exactly once, CSV."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from runtime.campaigns import CampaignPipeline
from runtime.clock import utc_now
from runtime.db.base import as_utc
from runtime.domain import inbox, warmup
from runtime.domain.outbound import TemplateOut
from runtime.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    Conversation,
    Event,
    Message,
    Sender,
    SenderWarmup,
    SendQueueItem,
)
from runtime.outbound import BatchRequest, submit_batch
from tests.api.harness import ApiHarness, TenantCtx
from tests.api.whatsapp_world import WABA_ID, WhatsAppWorld
from tests.conftest import make_settings
from tests.support import wait_for

_phones = itertools.count(int(uuid.uuid4().int % 10**6) * 1000)


def phone() -> str:
    return f"+6281{next(_phones) % 10**9:09d}"


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[WhatsAppWorld]:
    """No automatic delivered/read statuses; sends may go 2 s past their slot (a loaded
    machine stalls the worker; these tests are about campaigns, not stalls)."""
    settings = make_settings(
        database_url, outbound_late_tolerance_seconds=2.0, outbound_poll_seconds=0.05
    )
    harness = WhatsAppWorld(settings, auto_statuses=())
    try:
        yield harness
    finally:
        await harness.close()


async def _contact(api: ApiHarness, ctx: TenantCtx, **fields: Any) -> dict[str, Any]:
    created = await api.client.post(
        "/api/contacts", headers=ctx.headers, json={"phone": phone(), **fields}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _count(api: ApiHarness, ctx: TenantCtx, definition: Any) -> Any:
    r = await api.client.post(
        "/api/audiences/count", headers=ctx.headers, json={"definition": definition}
    )
    return r.json()["count"] if r.status_code == 200 else r


def _has(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


async def test_audience_filters_are_evaluated_in_sql(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, _ = await api.new_agent(ctx)
    vip = await _contact(
        api, ctx, tags=["vip", "jkt"], attributes={"city": "Jakarta", "spend": 120}
    )
    await _contact(api, ctx, tags=["jkt"], attributes={"city": "Bandung", "spend": "80"})
    await _contact(api, ctx, attributes={"city": "jakarta selatan", "spend": "n/a"})
    assigned = await api.client.post(
        f"/api/contacts/{vip['id']}/assign", headers=ctx.headers, json={"agent_id": agent["id"]}
    )
    assert assigned.status_code == 200, assigned.text
    await api.client.put(
        f"/api/contacts/{vip['id']}/consent", headers=ctx.headers, json={"state": "opted_in"}
    )

    cases = {
        "tag": (_has("tags", "has", "vip"), 1),
        "any tag": (_has("tags", "has_any", ["vip", "jkt"]), 2),
        "no tag": (_has("tags", "has_none", ["jkt"]), 1),
        "attr eq": (_has("attributes.city", "eq", "Jakarta"), 1),
        "attr contains": (_has("attributes.city", "contains", "JAKARTA"), 2),
        "numbers, even as text": (_has("attributes.spend", "gte", 80), 2),
        "attr missing": (_has("attributes.level", "not_exists"), 3),
        "owner": (_has("owner_agent", "eq", agent["id"]), 1),
        "pool": (_has("pool", "eq", "pooled"), 2),
        "consent": (_has("consent", "eq", "opted_in"), 1),
        "created": (_has("created_at", "within_days", 1), 3),
        "never written to": (_has("last_outbound_at", "never"), 3),
        "never wrote": (_has("last_inbound_at", "never"), 3),
        "or": ({"any": [_has("tags", "has", "vip"), _has("attributes.spend", "lt", 100)]}, 2),
        "and not": ({"all": [_has("tags", "has", "jkt"), {"not": _has("tags", "has", "vip")}]}, 1),
    }
    for name, (definition, expected) in cases.items():
        assert await _count(api, ctx, definition) == expected, name

    other = await api.new_tenant()  # tenant isolation: the same filter, none of ours
    assert await _count(api, other, _has("tags", "has_any", ["vip", "jkt"])) == 0


@pytest.mark.parametrize(
    "definition",
    [
        [],
        {"all": []},
        {"all": [{"field": "colour", "op": "eq", "value": "red"}]},
        _has("tags", "has", 3),
        _has("attributes.spend", "gt", "ten"),
        _has("attributes.1bad key", "eq", "x"),
        _has("owner_agent", "eq", "not-a-uuid"),
        _has("created_at", "after", "yesterday"),
        _has("created_at", "within_days", 0),
        _has("pool", "eq", "floating"),
        {"all": [_has("tags", "has", "a")], "any": []},
        {"not": {"not": {"not": {"not": {"not": _has("tags", "has", "a")}}}}},
    ],
)
async def test_garbage_audience_is_a_422_with_a_code(api: ApiHarness, definition: Any) -> None:
    ctx = await api.new_tenant()
    for path, body in (
        ("/api/audiences/count", {"definition": definition}),
        ("/api/audiences", {"name": "bad", "definition": definition}),
    ):
        r = await api.client.post(path, headers=ctx.headers, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] in ("invalid_audience", "validation_error")


async def test_audience_of_an_import_job(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    await _contact(api, ctx)
    rows = [{"phone": phone(), "name": f"Imported {i}"} for i in range(3)]
    job = await api.client.post("/api/contacts/bulk", headers=ctx.headers, json={"contacts": rows})
    assert job.status_code == 200, job.text
    definition = _has("import_job", "eq", job.json()["id"])
    assert await _count(api, ctx, definition) == 3
    saved = await api.client.post(
        "/api/audiences", headers=ctx.headers, json={"name": "batch", "definition": definition}
    )
    assert saved.status_code == 201, saved.text
    live = await api.client.get(f"/api/audiences/{saved.json()['id']}/count", headers=ctx.headers)
    assert live.json() == {"count": 3}


# ---- campaigns against the simulator ----------------------------------------------------------


async def _setup(
    world: WhatsAppWorld, contacts: int, category: str = "MARKETING", **campaign: Any
) -> tuple[TenantCtx, dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    template = f"promo_{uuid.uuid4().hex[:8]}"
    await world.add_template(template, "Hi {{1}}, 20% off in {{2}}!", category=category)
    synced = await world.client.post("/api/templates/sync", headers=ctx.headers)
    assert synced.status_code == 200, synced.text
    tag = f"c{uuid.uuid4().hex[:6]}"
    people = [
        await _contact(
            world,
            ctx,
            name=f"Budi {i}" if i % 2 else "",
            tags=[tag],
            attributes={"city": "Jakarta"},
        )
        for i in range(contacts)
    ]
    audience = await world.client.post(
        "/api/audiences",
        headers=ctx.headers,
        json={"name": "all", "definition": _has("tags", "has", tag)},
    )
    assert audience.status_code == 201, audience.text
    body = {
        "name": "November promo",
        "audience_id": audience.json()["id"],
        "template": {"name": template, "language": "en_US"},
        "parameters": {
            "body": [{"field": "name", "fallback": "friend"}, {"field": "attributes.city"}]
        },
        "sender": {"mode": "named", "sender_ids": [sender["id"]]},
        "rate_per_minute": 6000,
        **campaign,
    }
    created = await world.client.post("/api/campaigns", headers=ctx.headers, json=body)
    assert created.status_code == 201, created.text
    return ctx, sender, people, created.json()


async def _act(world: WhatsAppWorld, ctx: TenantCtx, campaign: dict[str, Any], action: str) -> Any:
    r = await world.client.post(f"/api/campaigns/{campaign['id']}/{action}", headers=ctx.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _run(world: WhatsAppWorld, rounds: int = 20) -> None:
    """Feed rounds until one queues nothing, then let the send queue send."""
    for _ in range(rounds):
        if not await world.app.state.campaigns.feed_round():
            break
    await world.sent()


async def _results(world: WhatsAppWorld, ctx: TenantCtx, campaign: dict[str, Any]) -> Any:
    r = await world.client.get(f"/api/campaigns/{campaign['id']}/results", headers=ctx.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _totals_are(
    world: WhatsAppWorld, ctx: TenantCtx, campaign: dict[str, Any], **expected: int
) -> bool:
    totals = (await _results(world, ctx, campaign))["totals"]
    return all(totals[state] == n for state, n in expected.items())


async def _at_meta(world: WhatsAppWorld) -> Counter[str]:
    data = (await world.sim.get("/_sim/messages")).json()["data"]
    return Counter(m["to"] for m in data)


async def test_campaign_runs_once_per_recipient_with_mapped_parameters(
    world: WhatsAppWorld,
) -> None:
    ctx, _, people, campaign = await _setup(world, 6)
    preview = await world.client.get(
        f"/api/campaigns/{campaign['id']}/preview", headers=ctx.headers, params={"limit": 6}
    )
    texts = {p["contact_id"]: p["text"] for p in preview.json()}
    unnamed = next(p for p in people if not p["name"])
    assert texts[unnamed["id"]] == "Hi friend, 20% off in Jakarta!"  # the fallback
    assert await _results(world, ctx, campaign) == {
        "totals": dict.fromkeys(
            ["pending", "queued", "sent", "delivered", "read", "replied", "failed", "skipped"], 0
        ),
        "rates": {"delivered": 0.0, "read": 0.0, "replied": 0.0, "failed": 0.0},
        "cost": {"billable": {}, "amount": 0, "currency": "USD"},
    }

    launched = await _act(world, ctx, campaign, "launch")
    assert launched["status"] == "running" and launched["totals"]["pending"] == 6
    await _run(world)
    await _run(world)  # a second pass changes nothing: one row per (campaign, contact)
    counts = await _at_meta(world)
    assert sorted(counts) == sorted(p["phone"].lstrip("+") for p in people)
    assert set(counts.values()) == {1}
    await wait_for(lambda: _totals_are(world, ctx, campaign, sent=6))
    await world.app.state.campaigns.feed_round()
    done = await world.client.get(f"/api/campaigns/{campaign['id']}", headers=ctx.headers)
    assert done.json()["status"] == "completed"
    again = await world.client.post(f"/api/campaigns/{campaign['id']}/pause", headers=ctx.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "campaign_invalid_transition"


async def test_rules_skip_recipients_naming_the_rule(world: WhatsAppWorld) -> None:
    ctx, _, people, campaign = await _setup(world, 4, frequency_cap={"count": 1, "days": 7})
    blocked, opted_out, capped, fine = people
    r = await world.client.post(
        "/api/consent/do-not-contact", headers=ctx.headers, json={"phone": blocked["phone"]}
    )
    assert r.status_code in (200, 201), r.text
    await world.client.put(
        f"/api/contacts/{opted_out['id']}/consent", headers=ctx.headers, json={"state": "opted_out"}
    )
    other = await world.client.post(
        "/api/campaigns",
        headers=ctx.headers,
        json={
            "name": "earlier",
            "audience_id": campaign["audience_id"],
            "template": campaign["template"],
            "parameters": campaign["parameters"],
            "sender": campaign["sender"],
        },
    )
    test_send = await world.client.post(
        f"/api/campaigns/{other.json()['id']}/test-send",
        headers=ctx.headers,
        json={"contact_id": capped["id"]},
    )
    assert test_send.status_code == 202, test_send.text
    async with world.app.state.sessionmaker() as session:  # count it as that campaign's send
        session.add(
            CampaignRecipient(
                campaign_id=uuid.UUID(other.json()["id"]),
                contact_id=uuid.UUID(capped["id"]),
                tenant_id=ctx.id,
                state="queued",
                not_before=utc_now(world.engine.state.clock),
                queued_at=utc_now(world.engine.state.clock),
                message_id=uuid.UUID(test_send.json()["message_id"]),
            )
        )
        await session.commit()

    await _act(world, ctx, campaign, "launch")
    await _run(world)
    rows = await world.client.get(
        f"/api/campaigns/{campaign['id']}/recipients", headers=ctx.headers
    )
    by_contact = {r["contact_id"]: r for r in rows.json()["items"]}
    assert by_contact[blocked["id"]]["skip_rule"] == "contact_do_not_contact"
    assert by_contact[opted_out["id"]]["skip_rule"] == "contact_opted_out"
    assert by_contact[capped["id"]]["skip_rule"] == "frequency_cap"
    assert by_contact[fine["id"]]["state"] in ("queued", "sent")
    assert (await _at_meta(world))[fine["phone"].lstrip("+")] == 1


async def test_send_window_defers_to_the_contact_local_opening(world: WhatsAppWorld) -> None:
    now = utc_now(world.engine.state.clock)
    jakarta = now.astimezone(ZoneInfo("Asia/Jakarta"))
    closed_hour = (jakarta.hour + 2) % 24  # a window of under an hour that is not now
    window = {"start": f"{closed_hour:02d}:00", "end": f"{closed_hour:02d}:59"}
    ctx, _, people, campaign = await _setup(world, 2, send_window=window)
    await _act(world, ctx, campaign, "launch")
    await _run(world)
    at_meta = await _at_meta(world)
    assert not any(p["phone"].lstrip("+") in at_meta for p in people)
    async with world.app.state.sessionmaker() as session:
        waits = list(
            await session.scalars(
                select(CampaignRecipient.not_before).where(
                    CampaignRecipient.campaign_id == uuid.UUID(campaign["id"])
                )
            )
        )
    assert all(datetime.fromisoformat(str(w)).replace(tzinfo=UTC) > now for w in waits)
    local = {
        datetime.fromisoformat(str(w)).replace(tzinfo=UTC).astimezone(jakarta.tzinfo) for w in waits
    }
    assert {(t.hour, t.minute) for t in local} == {(int(window["start"][:2]), 0)}


async def test_warm_up_budget_caps_unique_recipients_per_day(world: WhatsAppWorld) -> None:
    ctx, sender, people, campaign = await _setup(world, 5)
    ramp = await world.client.put(
        f"/api/campaigns/warmups/{sender['id']}", headers=ctx.headers, json={"day_one_budget": 2}
    )
    assert ramp.status_code == 200, ramp.text
    assert ramp.json()["remaining"] == 2
    await _act(world, ctx, campaign, "launch")
    await _run(world)
    at_meta = await _at_meta(world)
    assert sum(at_meta[p["phone"].lstrip("+")] for p in people) == 2
    [budget] = [
        w
        for w in (await world.client.get("/api/campaigns/warmups", headers=ctx.headers)).json()
        if w["sender_id"] == sender["id"]
    ]
    assert budget["used"] == 2 and budget["remaining"] == 0 and budget["state"] == "ramping"
    assert (await _results(world, ctx, campaign))["totals"]["pending"] == 3  # until tomorrow


async def test_red_number_pauses_the_campaign(world: WhatsAppWorld) -> None:
    ctx, sender, _, campaign = await _setup(world, 3)
    await _act(world, ctx, campaign, "launch")
    async with world.app.state.sessionmaker() as session:
        await session.execute(
            update(Sender).where(Sender.id == uuid.UUID(sender["id"])).values(quality_rating="RED")
        )
        await session.commit()
    await _run(world)
    paused = (
        await world.client.get(f"/api/campaigns/{campaign['id']}", headers=ctx.headers)
    ).json()
    assert paused["status"] == "paused" and "RED" in paused["pause_reason"]
    assert paused["totals"]["pending"] == 3
    resumed = await _act(world, ctx, campaign, "resume")
    assert resumed["status"] == "running"
    cancelled = await _act(world, ctx, campaign, "cancel")
    assert cancelled["status"] == "cancelled" and cancelled["totals"]["skipped"] == 3


async def test_csv_export_neutralises_formulas(world: WhatsAppWorld) -> None:
    ctx, _, people, campaign = await _setup(world, 1)
    await world.client.patch(
        f"/api/contacts/{people[0]['id']}", headers=ctx.headers, json={"name": "=HYPERLINK(1)"}
    )
    await _act(world, ctx, campaign, "launch")
    await _run(world)
    r = await world.client.get(f"/api/campaigns/{campaign['id']}/results.csv", headers=ctx.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(r.text)))
    assert row["name"] == "'=HYPERLINK(1)" and row["state"] in ("queued", "sent")
    assert row["phone"] == "'" + people[0]["phone"]  # a leading + is neutralised too


async def test_estimate_before_launch(world: WhatsAppWorld) -> None:
    ctx, _, _, campaign = await _setup(world, 3, rate_per_minute=60)
    r = await world.client.get(f"/api/campaigns/{campaign['id']}/estimate", headers=ctx.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recipients"] == 3 and body["limited_by"] == "rate_cap"
    assert body["duration_seconds"] == pytest.approx(3.0)
    assert body["category"] == "MARKETING" and body["cost"] == pytest.approx(3 * 0.0411)


async def test_only_drafts_are_edited(world: WhatsAppWorld) -> None:
    ctx, _, _, campaign = await _setup(
        world, 1, start_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()
    )
    scheduled = await _act(world, ctx, campaign, "launch")
    assert scheduled["status"] == "scheduled" and scheduled["expanded_at"] is None
    r = await world.client.patch(
        f"/api/campaigns/{campaign['id']}", headers=ctx.headers, json={"rate_per_minute": 5}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "campaign_not_editable"
    bad = await world.client.post(
        "/api/campaigns",
        headers=ctx.headers,
        json={
            "name": "x",
            "audience_id": campaign["audience_id"],
            "template": campaign["template"],
            "parameters": {"body": [{"field": "name"}]},
            "sender": campaign["sender"],
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "template_params_mismatch"


class _StoppedClock:
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


async def test_rate_cap_spaces_the_queued_sends(world: WhatsAppWorld) -> None:
    ctx, _, _, campaign = await _setup(world, 5, rate_per_minute=60)
    await _act(world, ctx, campaign, "launch")
    # A feeder that does not wake the send worker (the queue rows stay to be looked at), on
    # a clock that moves only when told (a loaded machine must not let more slots in).
    app = world.app.state
    clock = _StoppedClock(app.clock.now())
    feeder = CampaignPipeline(app.sessionmaker, world.settings, clock, lambda: None)
    assert await feeder.feed_round() == 2  # 1/s; a round hands out 2 s
    assert await feeder.feed_round() == 0  # the horizon is full until time moves
    clock.at += 1.0
    second = await feeder.feed_round()  # only the slot now inside the horizon
    assert second == 1
    async with world.app.state.sessionmaker() as session:
        slots = sorted(
            as_utc(moment)
            for moment in await session.scalars(
                select(SendQueueItem.not_before)
                .join(CampaignRecipient, CampaignRecipient.message_id == SendQueueItem.message_id)
                .where(CampaignRecipient.campaign_id == uuid.UUID(campaign["id"]))
            )
        )
    assert len(slots) == 2 + second
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(slots)]
    assert gaps == pytest.approx([1.0] * len(gaps))
    assert (await _results(world, ctx, campaign))["totals"]["pending"] == 3 - second


def test_warm_up_ramp_doubles_on_green_holds_on_yellow_stops_on_red() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC).date()
    ramp = SenderWarmup(day_one_budget=250, budget=250, budget_day=day, state="ramping")
    warmup.advance(ramp, "GREEN", day)
    assert ramp.budget == 250  # same day: nothing changes
    warmup.advance(ramp, "GREEN", day + timedelta(days=2))
    assert (ramp.budget, ramp.state) == (1000, "ramping")
    warmup.advance(ramp, "YELLOW", day + timedelta(days=3))
    assert (ramp.budget, ramp.state) == (1000, "holding")
    warmup.advance(ramp, "RED", day + timedelta(days=4))
    assert (ramp.budget, ramp.state) == (0, "stopped")
    warmup.advance(ramp, "GREEN", day + timedelta(days=5))
    assert (ramp.budget, ramp.state) == (0, "stopped")  # a new ramp must be set by hand


async def test_high_failure_rate_pauses_the_campaign(world: WhatsAppWorld) -> None:
    ctx, sender, _, campaign = await _setup(world, 30, rate_per_minute=600)
    await world.fail_next(sender["id"], kind="error", code=131026, times=20)
    await _act(world, ctx, campaign, "launch")
    assert await world.app.state.campaigns.feed_round() == 20
    await world.sent()
    await wait_for(lambda: _totals_are(world, ctx, campaign, failed=20))
    await world.app.state.campaigns.feed_round()
    paused = (
        await world.client.get(f"/api/campaigns/{campaign['id']}", headers=ctx.headers)
    ).json()
    assert paused["status"] == "paused" and paused["pause_reason"].startswith("failure_rate")
    assert paused["totals"]["pending"] == 10
    failed = await world.client.get(
        f"/api/campaigns/{campaign['id']}/recipients",
        headers=ctx.headers,
        params={"state": "failed", "limit": 1},
    )
    assert failed.json()["items"][0]["error_code"] == 131026


async def _launch_allocated(
    world: WhatsAppWorld,
    ctx: TenantCtx,
    campaign: dict[str, Any],
    owners: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Each (contact, owner) assigned, the campaign switched to each contact's allocated
    number, then launched."""
    for person, owner in owners:
        r = await world.client.post(
            f"/api/contacts/{person['id']}/assign", headers=ctx.headers, json=owner
        )
        assert r.status_code == 200, r.text
    r = await world.client.patch(
        f"/api/campaigns/{campaign['id']}",
        headers=ctx.headers,
        json={"sender": {"mode": "allocated"}},
    )
    assert r.status_code == 200, r.text
    await _act(world, ctx, campaign, "launch")


async def test_allocated_senders_follow_the_contact_owner(world: WhatsAppWorld) -> None:
    ctx, _, people, campaign = await _setup(world, 2)
    agent, _ = await world.new_agent(ctx)
    own_number = await world.add_sender(ctx, [agent["id"]])
    owned, pooled = people
    await _launch_allocated(world, ctx, campaign, [(owned, {"agent_id": agent["id"]})])
    await _run(world)
    rows = await world.client.get(
        f"/api/campaigns/{campaign['id']}/recipients", headers=ctx.headers
    )
    by_contact = {r["contact_id"]: r for r in rows.json()["items"]}
    assert by_contact[owned["id"]]["sender_id"] == own_number["id"]
    assert by_contact[pooled["id"]]["skip_rule"] == "no_sender_allocated"


async def test_allocated_senders_are_read_set_wise(database_url: str) -> None:
    """A round of ``allocated`` recipients reads the allocation rule's inputs for all of them
    at once (allocations, teams, latest conversations: a fixed number of statements, not one
    or more per contact), and each recipient still gets its owner's number: an agent's
    primary, a team-owned contact its team's primary, a pooled one none."""
    world = WhatsAppWorld(make_settings(database_url, campaign_work=False), auto_statuses=())
    try:
        ctx, _, people, campaign = await _setup(world, 8)
        first, _ = await world.new_agent(ctx)
        second, _ = await world.new_agent(ctx)
        first_number = await world.add_sender(ctx, [first["id"]])
        second_number = await world.add_sender(ctx, [second["id"]])
        team = await world.client.post(
            "/api/teams",
            headers=ctx.headers,
            json={"name": f"team {uuid.uuid4().hex[:6]}"},  # no member: nobody is picked
        )
        assert team.status_code == 201, team.text
        team_number = await world.add_sender(ctx, [])
        r = await world.client.put(
            f"/api/senders/allocations/teams/{team.json()['id']}",
            headers=ctx.headers,
            json={"primary": team_number["id"]},
        )
        assert r.status_code == 200, r.text
        owners = [{"agent_id": first["id"]}] * 3 + [{"agent_id": second["id"]}] * 2
        owners += [{"team_id": team.json()["id"]}] * 2  # people[7] stays in the open pool
        await _launch_allocated(world, ctx, campaign, list(zip(people, owners, strict=False)))

        with world.statements() as statements:
            assert await world.app.state.campaigns.feed_round() == 7

        rows = await world.client.get(
            f"/api/campaigns/{campaign['id']}/recipients", headers=ctx.headers
        )
        sender_of = {r["contact_id"]: r["sender_id"] for r in rows.json()["items"]}
        expected = [first_number["id"]] * 3 + [second_number["id"]] * 2
        expected += [team_number["id"]] * 2 + [None]
        assert [sender_of[p["id"]] for p in people] == expected
        reads = Counter(
            table
            for sql in statements
            for table in ("sender_allocations", "team_members", "PARTITION BY conversations")
            if table in sql
        )
        # one per contact before (7 owned contacts: 7+ allocation reads, 5 team reads)
        assert reads == {
            "sender_allocations": 2,  # the agents' allocations, the teams'
            "team_members": 1,
            "PARTITION BY conversations": 1,  # each contact's latest conversation
        }, reads
    finally:
        await world.close()


async def test_start_time_without_offset_is_read_in_the_tenant_zone(world: WhatsAppWorld) -> None:
    ctx, _, _, campaign = await _setup(world, 1, start_at="2030-01-01T09:00:00")
    assert campaign["start_at"].startswith("2030-01-01T02:00:00")  # Asia/Jakarta, UTC+7
    scheduled = await _act(world, ctx, campaign, "launch")
    assert scheduled["status"] == "scheduled"
    await world.app.state.campaigns.feed_round()  # not due: nothing expands
    assert (await _results(world, ctx, campaign))["totals"]["pending"] == 0


async def _rich_template_campaign(
    world: WhatsAppWorld, components: list[dict[str, Any]], parameters: dict[str, Any]
) -> tuple[TenantCtx, str, list[dict[str, Any]], dict[str, Any]]:
    """A tenant whose number has an approved MARKETING template of ``components``, two
    contacts, and the ``POST /api/campaigns`` body (with ``parameters``) to reach them:
    (ctx, template name, contacts, body)."""
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    name = f"promo_rich_{uuid.uuid4().hex[:8]}"
    await world.control(
        "templates",
        {
            "waba_id": WABA_ID,
            "name": name,
            "language": "en_US",
            "category": "MARKETING",
            "status": "APPROVED",
            "components": components,
        },
    )
    assert (await world.client.post("/api/templates/sync", headers=ctx.headers)).status_code == 200
    tag = f"m{uuid.uuid4().hex[:6]}"
    people = [await _contact(world, ctx, name=f"Sari {i}", tags=[tag]) for i in range(2)]
    audience = await world.client.post(
        "/api/audiences",
        headers=ctx.headers,
        json={"name": "m", "definition": _has("tags", "has", tag)},
    )
    body: dict[str, Any] = {
        "name": "Rich header",
        "audience_id": audience.json()["id"],
        "template": {"name": name, "language": "en_US"},
        "parameters": parameters,
        "sender": {"mode": "named", "sender_ids": [sender["id"]]},
        "rate_per_minute": 6000,
    }
    return ctx, name, people, body


async def test_media_header_template_needs_its_media_and_buttons(world: WhatsAppWorld) -> None:
    ctx, name, people, body = await _rich_template_campaign(
        world,
        [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{1}}, new arrivals!"},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}"}]},
        ],
        {"body": [{"field": "name"}], "buttons": [{"index": 0, "field": "phone"}]},
    )  # fmt: skip
    refused = await world.client.post("/api/campaigns", headers=ctx.headers, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"] == {
        "component": "header", "index": 0, "problem": "missing"
    }  # fmt: skip
    image = {"type": "image", "link": "https://cdn.example/new.png"}
    no_button = {**body, "parameters": {"header": [image], "body": [{"field": "name"}]}}
    refused = await world.client.post("/api/campaigns", headers=ctx.headers, json=no_button)
    assert refused.json()["error"]["details"]["component"] == "buttons"

    body["parameters"]["header"] = [image]
    created = await world.client.post("/api/campaigns", headers=ctx.headers, json=body)
    assert created.status_code == 201, created.text
    preview = await world.client.get(
        f"/api/campaigns/{created.json()['id']}/preview", headers=ctx.headers
    )
    assert [(p["header"], p["text"]) for p in preview.json()] == [
        (image, f"Hi {p['name']}, new arrivals!") for p in sorted(people, key=lambda p: p["id"])
    ]  # the header each recipient sees
    await _act(world, ctx, created.json(), "launch")
    await _run(world)
    sent = await wait_for(lambda: _sends_of(world, name, len(people)), within=10.0)
    for message in sent:
        header, _, button = message["body"]["template"]["components"]
        assert header["parameters"][0]["image"]["link"] == image["link"]
        assert button["parameters"][0]["text"] == "+" + message["to"]  # per recipient


async def test_location_header_template_sends_its_place_to_everyone(
    world: WhatsAppWorld,
) -> None:
    place = {"type": "location", "latitude": -6.1754, "longitude": 106.8272,
             "name": "Monas", "address": "Gambir, Jakarta Pusat"}  # fmt: skip
    ctx, name, people, body = await _rich_template_campaign(
        world,
        [{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Hi {{1}}, visit us!"}],
        {"header": [{**place, "latitude": 90.5}], "body": [{"field": "name"}]},
    )
    refused = await world.client.post("/api/campaigns", headers=ctx.headers, json=body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]) == (
        "template_param_invalid", {"component": "header", "index": 0}
    )  # fmt: skip
    text_instead = {**body, "parameters": {**body["parameters"], "header": [{"text": "Monas"}]}}
    refused = await world.client.post("/api/campaigns", headers=ctx.headers, json=text_instead)
    assert refused.json()["error"]["code"] == "template_param_invalid"

    body["parameters"]["header"] = [place]
    created = await world.client.post("/api/campaigns", headers=ctx.headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["parameters"]["header"] == [place]
    preview = await world.client.get(
        f"/api/campaigns/{created.json()['id']}/preview", headers=ctx.headers
    )
    assert [(p["header"], p["text"]) for p in preview.json()] == [
        (place, f"Hi {p['name']}, visit us!") for p in sorted(people, key=lambda p: p["id"])
    ]
    await _act(world, ctx, created.json(), "launch")
    await _run(world)
    sent = await wait_for(lambda: _sends_of(world, name, len(people)), within=10.0)
    for message in sent:
        header, _ = message["body"]["template"]["components"]
        assert header["parameters"] == [{"type": "location", "location": {
            k: v for k, v in place.items() if k != "type"}}]  # fmt: skip


async def test_text_header_and_quick_reply_payload_come_per_recipient(
    world: WhatsAppWorld,
) -> None:
    ctx = await world.new_tenant()
    sender = await world.add_sender(ctx, [])
    name = f"parcel_txt_{uuid.uuid4().hex[:8]}"
    await world.control(
        "templates",
        {
            "waba_id": WABA_ID,
            "name": name,
            "language": "en_US",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Parcel {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, it arrives tomorrow."},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Fine"},
                    {"type": "QUICK_REPLY", "text": "Move it"}]},
            ],
        },
    )  # fmt: skip
    assert (await world.client.post("/api/templates/sync", headers=ctx.headers)).status_code == 200
    tag = f"t{uuid.uuid4().hex[:6]}"
    people = [
        await _contact(world, ctx, name=f"Rina {i}", tags=[tag], attributes={"parcel": f"P-{i}"})
        for i in range(2)
    ]
    # "Parcel " + 54 characters is 61: over Meta's 60 for a header, so this one is skipped
    too_long = await _contact(
        world, ctx, name="Rina long", tags=[tag], attributes={"parcel": "L" * 54}
    )
    audience = await world.client.post(
        "/api/audiences",
        headers=ctx.headers,
        json={"name": "t", "definition": _has("tags", "has", tag)},
    )
    parameters = {
        "header": [{"field": "attributes.parcel", "fallback": "for you"}],
        "body": [{"field": "name"}],
        "buttons": [{"index": 1, "field": "attributes.parcel"}],  # button 0 goes without
    }
    created = await world.client.post(
        "/api/campaigns",
        headers=ctx.headers,
        json={
            "name": "Parcel notice",
            "audience_id": audience.json()["id"],
            "template": {"name": name, "language": "en_US"},
            "parameters": parameters,
            "sender": {"mode": "named", "sender_ids": [sender["id"]]},
            "rate_per_minute": 6000,
        },
    )
    assert created.status_code == 201, created.text
    preview = await world.client.get(
        f"/api/campaigns/{created.json()['id']}/preview", headers=ctx.headers
    )
    ordered = sorted(people, key=lambda p: p["id"])
    previewed = {p["contact_id"]: p for p in preview.json()}
    assert previewed.pop(too_long["id"])["problem"] == "template_text_too_long:header"
    assert [(p["header_text"], p["body_text"], p["text"]) for p in previewed.values()] == [
        (
            f"Parcel {p['attributes']['parcel']}",
            f"Hi {p['name']}, it arrives tomorrow.",
            f"Parcel {p['attributes']['parcel']}\nHi {p['name']}, it arrives tomorrow.",
        )
        for p in ordered
    ]
    await _act(world, ctx, created.json(), "launch")
    await _run(world)
    sent = await wait_for(lambda: _sends_of(world, name, len(people)), within=10.0)
    recipients = (
        await world.client.get(
            f"/api/campaigns/{created.json()['id']}/recipients", headers=ctx.headers
        )
    ).json()["items"]
    skipped = [(r["contact_id"], r["state"], r["skip_rule"]) for r in recipients if r["skip_rule"]]
    assert skipped == [(too_long["id"], "skipped", "template_text_too_long")]  # not paused
    parcels = {p["phone"].lstrip("+"): p["attributes"]["parcel"] for p in people}
    for message in sent:
        header, _, button = message["body"]["template"]["components"]
        parcel = parcels[message["to"]]
        assert header["parameters"] == [{"type": "text", "text": parcel}]
        assert (button["sub_type"], button["index"]) == ("quick_reply", "1")
        assert button["parameters"] == [{"type": "payload", "payload": parcel}]


async def _sends_of(world: WhatsAppWorld, template: str, count: int) -> list[Any] | None:
    data = (await world.sim.get("/_sim/messages")).json()["data"]
    found = [m for m in data if m["body"].get("template", {}).get("name") == template]
    return found if len(found) == count else None


async def test_timeline_counts_each_state_per_minute_and_cost_comes_from_pricing(
    database_url: str,
) -> None:
    """Statuses arrive (sent, delivered, read, with Meta's pricing); one send fails; one
    customer replies: each lands in its minute, and the actual cost counts the billable."""
    settings = make_settings(database_url, outbound_late_tolerance_seconds=2.0)
    world = WhatsAppWorld(settings, auto_statuses=("delivered", "read"))
    try:
        ctx, sender, people, campaign = await _setup(world, 4)
        await world.fail_next(sender["id"], kind="error", code=131026)
        await _act(world, ctx, campaign, "launch")
        await _run(world)
        await wait_for(lambda: _totals_are(world, ctx, campaign, read=3, failed=1), within=60)
        reached = {m["to"] for m in (await world.sim.get("/_sim/messages")).json()["data"]}
        replier = next(p for p in people if p["phone"].lstrip("+") in reached)
        await world.customer_says(sender, replier["phone"].lstrip("+"), "Still on?")
        await wait_for(lambda: _totals_are(world, ctx, campaign, replied=1), within=60)

        r = await world.client.get(f"/api/campaigns/{campaign['id']}/timeline", headers=ctx.headers)
        assert r.status_code == 200, r.text
        timeline = r.json()
        assert timeline["bucket_seconds"] == 60 and timeline["buckets"]
        starts = [datetime.fromisoformat(b["at"]) for b in timeline["buckets"]]
        assert all(s.second == 0 and s.microsecond == 0 for s in starts)
        assert all((b - a).total_seconds() == 60 for a, b in itertools.pairwise(starts))
        sums = {k: sum(b[k] for b in timeline["buckets"]) for k in timeline["buckets"][0]
                if k != "at"}  # fmt: skip
        assert sums == {"queued": 4, "sent": 3, "delivered": 3, "read": 3, "replied": 1,
                        "failed": 1}  # fmt: skip
        wide = await world.client.get(
            f"/api/campaigns/{campaign['id']}/timeline",
            headers=ctx.headers,
            params={"bucket_seconds": 3600},
        )
        hours = wide.json()["buckets"]  # one, or two if the run straddled an hour
        assert len(hours) <= 2 and sum(b["sent"] for b in hours) == 3
        bad = await world.client.get(
            f"/api/campaigns/{campaign['id']}/timeline",
            headers=ctx.headers,
            params={"bucket_seconds": 61},
        )
        assert bad.status_code == 422

        cost = (await _results(world, ctx, campaign))["cost"]
        assert cost["billable"] == {"MARKETING": 3}  # the failed one is not billed
        assert cost["amount"] == pytest.approx(3 * 0.0411)
    finally:
        await world.close()


async def test_a_reply_counts_by_the_conversation_order_not_by_clock_stamps(
    world: WhatsAppWorld,
) -> None:
    """Meta stamps an inbound message in whole seconds, so a reply in the same second as the
    campaign's message carries an earlier time than the message: the conversation's order,
    not the stamps, tells that the customer replied (the message is stamped an hour ahead
    here so the clock comparison would always miss it)."""
    ctx, sender, people, campaign = await _setup(world, 1)
    await _act(world, ctx, campaign, "launch")
    await _run(world)
    async with world.app.state.sessionmaker() as session:
        await session.execute(
            update(Message)
            .where(
                Message.id.in_(
                    select(CampaignRecipient.message_id).where(
                        CampaignRecipient.campaign_id == uuid.UUID(campaign["id"])
                    )
                )
            )
            .values(created_at=utc_now(world.app.state.clock) + timedelta(hours=1))
        )
        await session.commit()
    await wait_for(lambda: _totals_are(world, ctx, campaign, replied=0, sent=1), within=30)
    await world.customer_says(sender, people[0]["phone"].lstrip("+"), "Yes please")
    await wait_for(lambda: _totals_are(world, ctx, campaign, replied=1, sent=0), within=30)
    timeline = (
        await world.client.get(f"/api/campaigns/{campaign['id']}/timeline", headers=ctx.headers)
    ).json()
    assert sum(b["replied"] for b in timeline["buckets"]) == 1


async def test_a_key_already_stored_is_answered_duplicate_never_stored_twice(
    world: WhatsAppWorld,
) -> None:
    """The feeder's exactly-once does not rest on the recipient row alone: the message's
    idempotency key (campaign, contact) is unique, and submit_batch answers a stored key with
    the stored message."""
    ctx, _, people, campaign = await _setup(world, 2)
    await _act(world, ctx, campaign, "launch")
    await _run(world)
    app = world.app.state
    async with app.sessionmaker() as session:
        stored = await session.scalar(
            select(Campaign).where(Campaign.id == uuid.UUID(campaign["id"]))
        )
        assert stored is not None
        contact = await session.get(Contact, uuid.UUID(people[0]["id"]))
        sender = await session.get(Sender, uuid.UUID(campaign["sender"]["sender_ids"][0]))
        assert contact is not None and sender is not None
        key = f"campaign:{stored.id}:{contact.id}"
        first = await session.scalar(select(Message.id).where(Message.idempotency_key == key))
        assert first is not None
        outgoing = TemplateOut(stored.template_name, "en_US", {"body": ["x", "y"]})
        now = utc_now(app.clock)
        again = BatchRequest(key, contact, sender, outgoing)
        fresh = BatchRequest(f"test:{uuid.uuid4()}", contact, sender, outgoing)
        outcomes = await submit_batch(
            session, world.settings, ctx.id, stored.created_by, [again, fresh], now
        )
        assert [o.kind for o in outcomes] == ["duplicate", "queued"]
        assert outcomes[0].message_id == first and outcomes[1].message_id != first
        await session.rollback()
    assert (await _at_meta(world))[people[0]["phone"].lstrip("+")] == 1


async def test_a_new_conversations_events_show_it_as_its_stored_rows_do(
    world: WhatsAppWorld,
) -> None:
    """submit_batch builds a new conversation and its message as plain rows (no ORM
    object, as an inbound round does): the events it records show them exactly as the
    rows read back show them."""
    ctx, _, people, campaign = await _setup(world, 1)
    app = world.app.state
    async with app.sessionmaker() as session:
        contact = await session.get(Contact, uuid.UUID(people[0]["id"]))
        sender = await session.get(Sender, uuid.UUID(campaign["sender"]["sender_ids"][0]))
        author = await session.scalar(
            select(Campaign.created_by).where(Campaign.id == uuid.UUID(campaign["id"]))
        )
        assert contact is not None and sender is not None and author is not None
        now = utc_now(app.clock)
        outgoing = TemplateOut(campaign["template"]["name"], "en_US", {"body": ["x", "y"]})
        held = now + timedelta(hours=1)  # not sent meanwhile: the rows stay as stored
        request = BatchRequest(f"test:{uuid.uuid4()}", contact, sender, outgoing, held)
        [outcome] = await submit_batch(session, world.settings, ctx.id, author, [request], now)
        assert outcome.kind == "queued"
        await session.commit()
    async with app.sessionmaker() as session:
        message = await session.get(Message, outcome.message_id)
        assert message is not None
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None and as_utc(conversation.created_at) == now
        told = {
            type_: payload
            for type_, payload in await session.execute(
                select(Event.type, Event.payload).where(Event.tenant_id == ctx.id)
            )
        }
    assert told["conversation.updated"]["conversation"] == inbox.conversation_json(
        conversation, contact, now
    )
    assert told["message.created"]["message"] == inbox.message_json(message)
