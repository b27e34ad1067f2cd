from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from runtime.models import Sender
from tests.api.harness import TenantCtx
from tests.api.whatsapp_world import WhatsAppWorld


@pytest.fixture
def api(world: WhatsAppWorld) -> WhatsAppWorld:
    """Registering a sender needs Meta (the simulator) to confirm the number."""
    return world


SECRET = "EAAG-very-secret-token"


async def _sender(api: WhatsAppWorld, ctx: TenantCtx, **fields: Any) -> dict[str, Any]:
    body = {**await api.new_number(token=SECRET), **fields}
    r = await api.client.post("/api/senders", headers=ctx.headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_token_is_stored_encrypted_and_never_returned(api: WhatsAppWorld) -> None:
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
            "waba_id": sender["waba_id"],
            "access_token": SECRET,
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


async def test_allocation_and_routing_rule(api: WhatsAppWorld) -> None:
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


async def test_withdraw_removes_allocations(api: WhatsAppWorld) -> None:
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


async def test_phone_number_belongs_to_tenant_that_proves_it(api: WhatsAppWorld) -> None:
    owner, claimant = await api.new_tenant(), await api.new_tenant()
    held = await _sender(api, owner)  # WABA_ID, served to SECRET
    free = await api.new_number(token=SECRET)  # same WABA, nobody registered it

    async def claim(**body: Any) -> tuple[int, dict[str, Any]]:
        response = await api.client.post("/api/senders", headers=claimant.headers, json=body)
        return response.status_code, response.json()

    def body_for(number: dict[str, Any], **changes: str) -> dict[str, Any]:
        return {key: number[key] for key in ("phone_number_id", "display_number", "waba_id")} | {
            "access_token": SECRET,
            **changes,
        }

    # A made-up token: refused, with one answer whether or not another tenant holds the number.
    made_up = "EAAG-made-up-token-123"
    refusals = [
        await claim(**body_for(held, access_token=made_up)),
        await claim(**body_for(free, access_token=made_up)),
    ]
    # The claimant's own, real token (bound to its own WABAs) proves neither number.
    own = await api.new_number(waba_id="700000000000001", token="EAAG-claimants-token")
    other_waba = await api.new_number(waba_id="700000000000002", token="EAAG-claimants-token")
    for number in (held, free):
        refusals.append(
            await claim(
                **body_for(number, access_token=own["access_token"], waba_id=own["waba_id"])
            )
        )
    # Its own number under another of its WABAs: the WABA does not list it.
    refusals.append(
        await claim(
            **body_for(own, access_token=own["access_token"], waba_id=other_waba["waba_id"])
        )
    )
    assert refusals == [refusals[0]] * len(refusals)
    status, answer = refusals[0]
    assert (status, answer["error"]["code"]) == (422, "sender_not_proven")
    assert (await api.client.get("/api/senders", headers=claimant.headers)).json() == []
    [still_held] = (await api.client.get("/api/senders", headers=owner.headers)).json()
    assert still_held["id"] == held["id"]

    # The proper token and WABA: stored.
    status, stored = await claim(**own)
    assert status == 201, stored
    assert stored["phone_number_id"] == own["phone_number_id"]


async def test_sender_token_rotation_needs_proof(api: WhatsAppWorld) -> None:
    ctx = await api.new_tenant()
    sender = await _sender(api, ctx)
    url = f"/api/senders/{sender['id']}"

    async def stored_ciphertext() -> str | None:
        async with api.app.state.sessionmaker() as session:
            row = await session.get(Sender, uuid.UUID(sender["id"]))
            return row.access_token_encrypted if row else None

    before = await stored_ciphertext()
    refused = await api.client.patch(
        url, headers=ctx.headers, json={"access_token": "EAAG-made-up-token-123"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "sender_not_proven"
    assert await stored_ciphertext() == before

    rotated = await api.client.patch(url, headers=ctx.headers, json={"access_token": SECRET})
    assert rotated.status_code == 200, rotated.text
    assert await stored_ciphertext() not in (before, None)
