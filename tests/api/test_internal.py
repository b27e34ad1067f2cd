"""The operator's internal endpoints: authenticated, idempotent, and withdrawal keeps history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.settings import Settings
from tests.api.harness import ApiHarness
from tests.conftest import make_settings

TOKEN = "internal-token-" + "z" * 20


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[ApiHarness]:
    harness = ApiHarness(make_settings(database_url, internal_token=TOKEN))
    try:
        yield harness
    finally:
        await harness.close()


def _body(slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "tenant_slug": slug,
        "display_number": "+62 811 222",
        "waba_id": "4455",
        "verified_name": "Acme",
        "quality_rating": "GREEN",
        "messaging_limit_tier": "TIER_1K",
        "access_token": "EAAG-from-the-secret",
        "access_token_secret_ref": "wa/token",
        "status": "active",
        **extra,
    }


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_requires_the_internal_token(api: ApiHarness, settings: Settings) -> None:
    ctx = await api.new_tenant()
    url = "/internal/senders/777000111"
    assert (await api.client.put(url, json=_body(ctx.slug))).status_code == 401
    wrong = await api.client.put(url, json=_body(ctx.slug), headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    assert (await api.client.get("/api/senders", headers=ctx.headers)).json() == []
    # Without a configured token the internal API does not exist at all.
    closed = ApiHarness(settings)
    try:
        r = await closed.client.put(url, json=_body(ctx.slug), headers=AUTH)
        assert r.status_code == 404
    finally:
        await closed.close()


async def test_publish_allocate_republish_and_withdraw(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    team = (await api.client.post("/api/teams", headers=ctx.headers, json={"name": "sales"})).json()
    url = "/internal/senders/777000222"
    first = await api.client.put(
        url,
        headers=AUTH,
        json=_body(
            ctx.slug,
            allocations=[
                {"team": "sales", "role": "primary"},
                {"team": "ghosts", "role": "secondary"},
            ],
        ),
    )
    assert first.status_code == 200, first.text
    assert first.json()["created"] and first.json()["unknown_teams"] == ["ghosts"]
    [sender] = (await api.client.get("/api/senders", headers=ctx.headers)).json()
    assert (sender["phone_number_id"], sender["access_token_source"]) == ("777000222", "encrypted")
    allocations = (await api.client.get("/api/senders/allocations", headers=ctx.headers)).json()
    assert allocations == [
        {"holder_type": "team", "holder_id": team["id"], "primary": sender["id"], "secondaries": []}
    ]

    again = await api.client.put(
        url,
        headers=AUTH,
        json=_body(
            ctx.slug,
            status="paused",
            quality_rating="YELLOW",
            allocations=[{"team": "sales", "role": "primary"}],
        ),
    )
    assert again.json()["created"] is False
    [updated] = (await api.client.get("/api/senders", headers=ctx.headers)).json()
    assert (updated["status"], updated["quality_rating"]) == ("paused", "YELLOW")
    assert len((await api.client.get("/api/senders/allocations", headers=ctx.headers)).json()) == 1

    other = await api.new_tenant()
    stolen = await api.client.put(url, headers=AUTH, json=_body(other.slug))
    assert stolen.status_code == 409

    gone = await api.client.delete(url, headers=AUTH)
    assert gone.status_code == 204
    assert (await api.client.get("/api/senders", headers=ctx.headers)).json() == []
    assert (await api.client.delete(url, headers=AUTH)).status_code == 404


async def test_garbage_is_refused_with_field_errors(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    bad = await api.client.put("/internal/senders/not-digits", headers=AUTH, json=_body(ctx.slug))
    assert bad.status_code == 422
    no_token = _body(ctx.slug)
    del no_token["access_token"], no_token["access_token_secret_ref"]
    r = await api.client.put("/internal/senders/777000333", headers=AUTH, json=no_token)
    assert r.status_code == 422
    unknown_tenant = await api.client.put(
        "/internal/senders/777000333", headers=AUTH, json=_body("no-such-tenant")
    )
    assert unknown_tenant.status_code == 404
