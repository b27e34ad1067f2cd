from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from runtime.models import Sender
from tests.api.harness import ApiHarness, TenantCtx

_ids = itertools.count(105_000_000_000_000)


async def _sender(api: ApiHarness, ctx: TenantCtx, **fields: Any) -> dict[str, Any]:
    body = {
        "phone_number_id": str(next(_ids)),
        "display_number": "+62 811 000",
        "waba_id": "998877",
        "access_token": "EAAG-very-secret-token",
        **fields,
    }
    r = await api.client.post("/api/senders", headers=ctx.headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_token_is_stored_encrypted_and_never_returned(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    sender = await _sender(api, ctx)
    assert "access_token" not in sender and sender["access_token_source"] == "encrypted"
    for response in [
        await api.client.get("/api/senders", headers=ctx.headers),
        await api.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers),
        await api.client.get("/api/audit", headers=ctx.headers),
    ]:
        assert "EAAG-very-secret-token" not in response.text
    async with api.app.state.sessionmaker() as session:
        row = await session.scalar(
            select(Sender).where(Sender.phone_number_id == sender["phone_number_id"])
        )
        assert row is not None and row.access_token_encrypted
        assert "EAAG" not in row.access_token_encrypted

    both = await api.client.post(
        "/api/senders",
        headers=ctx.headers,
        json={
            "phone_number_id": "1",
            "display_number": "+62",
            "waba_id": "1",
            "access_token": "EAAG-very-secret-token",
            "access_token_secret_ref": "s/k",
        },
    )
    assert both.status_code == 422
    dup = await api.client.post(
        "/api/senders",
        headers=ctx.headers,
        json={
            "phone_number_id": sender["phone_number_id"],
            "display_number": "+62 811",
            "waba_id": "1",
            "access_token_secret_ref": "wa-secret/token",
        },
    )
    assert dup.status_code == 409
    garbage = await api.client.post(
        "/api/senders",
        headers=ctx.headers,
        json={
            "phone_number_id": "12ab",
            "display_number": "+62 811",
            "waba_id": "1",
            "access_token_secret_ref": "Not A Ref",
        },
    )
    assert garbage.status_code == 422
    fields = {d["field"] for d in garbage.json()["error"]["details"]}
    assert fields == {"phone_number_id", "access_token_secret_ref"}


async def test_allocation_and_routing_rule(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, agent_h = await api.new_agent(ctx)
    team = (
        await api.client.post(
            "/api/teams", headers=ctx.headers, json={"name": "Field", "member_ids": [agent["id"]]}
        )
    ).json()
    contact = (
        await api.client.post("/api/contacts", headers=ctx.headers, json={"phone": "081277770001"})
    ).json()
    s_team, s_team2, s_own, s_red = [await _sender(api, ctx) for _ in range(4)]

    async def route() -> tuple[str, str]:
        r = await api.client.get(
            "/api/senders/route",
            headers=ctx.headers,
            params={"agent_id": agent["id"], "contact_id": contact["id"]},
        )
        assert r.status_code in (200, 409), r.text
        body = r.json()
        return (
            (body["sender"]["id"], body["reason"])
            if r.status_code == 200
            else ("", body["error"]["code"])
        )

    assert await route() == ("", "no_sender_allocated")

    r = await api.client.put(
        f"/api/senders/allocations/teams/{team['id']}",
        headers=ctx.headers,
        json={"primary": s_team["id"], "secondaries": [s_team2["id"]]},
    )
    assert r.status_code == 200
    assert await route() == (s_team["id"], "team_primary")

    await api.client.patch(
        f"/api/senders/{s_team['id']}", headers=ctx.headers, json={"status": "paused"}
    )
    assert await route() == (s_team2["id"], "team_secondary")

    await api.client.put(
        f"/api/senders/allocations/agents/{agent['id']}",
        headers=ctx.headers,
        json={"primary": s_red["id"], "secondaries": [s_own["id"]]},
    )
    await api.client.patch(
        f"/api/senders/{s_red['id']}", headers=ctx.headers, json={"quality_rating": "RED"}
    )
    # RED primary is passed over for the healthy secondary of the same step.
    assert await route() == (s_own["id"], "agent_secondary")

    allocations = (await api.client.get("/api/senders/allocations", headers=agent_h)).json()
    by_holder = {a["holder_id"]: a for a in allocations}
    assert by_holder[team["id"]]["secondaries"] == [s_team2["id"]]
    assert by_holder[agent["id"]]["primary"] == s_red["id"]

    bad = await api.client.put(
        f"/api/senders/allocations/agents/{agent['id']}",
        headers=ctx.headers,
        json={"primary": s_own["id"], "secondaries": [s_own["id"]]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "duplicate_sender"
    # The refused change left the allocation as it was.
    assert await route() == (s_own["id"], "agent_secondary")


async def test_withdraw_removes_allocations(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, _ = await api.new_agent(ctx)
    sender = await _sender(api, ctx)
    await api.client.put(
        f"/api/senders/allocations/agents/{agent['id']}",
        headers=ctx.headers,
        json={"primary": sender["id"]},
    )
    r = await api.client.delete(f"/api/senders/{sender['id']}", headers=ctx.headers)
    assert r.status_code == 204
    assert (await api.client.get("/api/senders/allocations", headers=ctx.headers)).json() == []
    assert (
        await api.client.get(f"/api/senders/{sender['id']}", headers=ctx.headers)
    ).status_code == 404
