from __future__ import annotations

import asyncio
from typing import Any

from tests.api.harness import ApiHarness, TenantCtx


async def _contact(api: ApiHarness, ctx: TenantCtx, phone: str) -> str:
    r = await api.client.post("/api/contacts", headers=ctx.headers, json={"phone": phone})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _team(api: ApiHarness, ctx: TenantCtx, strategy: str, members: list[str]) -> str:
    r = await api.client.post(
        "/api/teams",
        headers=ctx.headers,
        json={"name": f"team-{strategy}", "assignment_strategy": strategy, "member_ids": members},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_claim_release_reassign_and_history(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    alice, alice_h = await api.new_agent(ctx)
    bob, bob_h = await api.new_agent(ctx)
    contact = await _contact(api, ctx, "081255550001")

    pool = (await api.client.get("/api/pool", headers=alice_h)).json()["items"]
    assert [c["id"] for c in pool] == [contact]

    claimed = await api.client.post(f"/api/contacts/{contact}/claim", headers=alice_h)
    assert claimed.status_code == 200
    assert claimed.json()["to_agent_id"] == alice["id"]

    taken = await api.client.post(f"/api/contacts/{contact}/claim", headers=bob_h)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "already_assigned"
    not_yours = await api.client.post(f"/api/contacts/{contact}/release", headers=bob_h)
    assert not_yours.status_code == 409

    released = await api.client.post(f"/api/contacts/{contact}/release", headers=alice_h)
    assert released.status_code == 200
    again = await api.client.post(f"/api/contacts/{contact}/release", headers=alice_h)
    assert again.json()["error"]["code"] == "not_assigned"

    next_one = await api.client.post("/api/pool/claim-next", headers=bob_h)
    assert next_one.json()["contact_id"] == contact
    moved = await api.client.post(
        f"/api/contacts/{contact}/assign", headers=ctx.headers, json={"agent_id": alice["id"]}
    )
    assert moved.json()["action"] == "reassign"

    history = (
        await api.client.get(f"/api/contacts/{contact}/assignments", headers=ctx.headers)
    ).json()
    assert [
        (h["action"], h["from_agent_id"], h["to_agent_id"], h["actor_agent_id"])
        for h in reversed(history)
    ] == [
        ("claim", None, alice["id"], alice["id"]),
        ("release", alice["id"], None, alice["id"]),
        ("claim", None, bob["id"], bob["id"]),
        ("reassign", bob["id"], alice["id"], str(ctx.admin_id)),
    ]
    empty = await api.client.post("/api/pool/claim-next", headers=bob_h)
    assert empty.status_code == 404


async def test_concurrent_claims_have_one_winner(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agents = [await api.new_agent(ctx) for _ in range(4)]
    contact = await _contact(api, ctx, "081255550002")
    results = await asyncio.gather(
        *(api.client.post(f"/api/contacts/{contact}/claim", headers=h) for _, h in agents)
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1, [r.text for r in results]
    assert set(codes) <= {200, 409}


async def test_team_pool_is_only_for_members(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    member, member_h = await api.new_agent(ctx)
    _, outsider_h = await api.new_agent(ctx)
    team = await _team(api, ctx, "manual", [member["id"]])
    contact = await _contact(api, ctx, "081255550003")
    r = await api.client.post(
        f"/api/contacts/{contact}/assign", headers=ctx.headers, json={"team_id": team}
    )
    assert r.json()["to_agent_id"] is None  # manual team: it waits in the team's pool
    refused = await api.client.post(f"/api/contacts/{contact}/claim", headers=outsider_h)
    assert refused.json()["error"]["code"] == "not_in_your_pool"
    ok = await api.client.post(f"/api/contacts/{contact}/claim", headers=member_h)
    assert ok.status_code == 200


async def test_round_robin_and_least_loaded(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    members = [(await api.new_agent(ctx, status="online"))[0]["id"] for _ in range(3)]
    rr = await _team(api, ctx, "round_robin", members)
    contacts = [await _contact(api, ctx, f"08126666{i:04d}") for i in range(6)]
    bulk = await api.client.post(
        "/api/contacts/assign", headers=ctx.headers, json={"contact_ids": contacts, "team_id": rr}
    )
    assert bulk.status_code == 200
    picked = [e["to_agent_id"] for e in bulk.json()]
    assert sorted(picked) == sorted(members * 2)
    assert picked[:3] == picked[3:]  # a full cycle, then the same order again

    # least_loaded: give one member 4 extra contacts; new work goes to the others.
    ll = await api.client.post(
        "/api/teams",
        headers=ctx.headers,
        json={"name": "ll", "assignment_strategy": "least_loaded", "member_ids": members},
    )
    extra = [await _contact(api, ctx, f"08127777{i:04d}") for i in range(4)]
    await api.client.post(
        "/api/contacts/assign",
        headers=ctx.headers,
        json={"contact_ids": extra, "agent_id": members[0]},
    )
    fresh = [await _contact(api, ctx, f"08128888{i:04d}") for i in range(2)]
    result: list[dict[str, Any]] = (
        await api.client.post(
            "/api/contacts/assign",
            headers=ctx.headers,
            json={"contact_ids": fresh, "team_id": ll.json()["id"]},
        )
    ).json()
    assert {e["to_agent_id"] for e in result} == set(members[1:])


async def test_assign_validates_targets(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, _ = await api.new_agent(ctx)
    team = await _team(api, ctx, "manual", [])
    contact = await _contact(api, ctx, "081255550004")
    neither = await api.client.post(f"/api/contacts/{contact}/assign", headers=ctx.headers, json={})
    assert neither.status_code == 422
    not_member = await api.client.post(
        f"/api/contacts/{contact}/assign",
        headers=ctx.headers,
        json={"agent_id": agent["id"], "team_id": team},
    )
    assert not_member.json()["error"]["code"] == "not_a_member"
    unknown = await api.client.post(
        "/api/contacts/assign",
        headers=ctx.headers,
        json={
            "contact_ids": [contact, "00000000-0000-0000-0000-000000000000"],
            "agent_id": agent["id"],
        },
    )
    assert unknown.status_code == 422
    history = await api.client.get(f"/api/contacts/{contact}/assignments", headers=ctx.headers)
    assert history.json() == []  # nothing half-done
