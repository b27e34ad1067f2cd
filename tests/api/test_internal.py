"""The operator's internal endpoints: authenticated, idempotent, and withdrawal keeps history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.domain.errors import Conflict
from runtime.domain.secret_refs import SECRET_KEY_PATTERN, SECRET_NAME_PATTERN, split_secret_ref
from runtime.domain.sender_tokens import resolve_token
from runtime.models import Sender
from runtime.settings import Settings
from tests.api.harness import ApiHarness
from tests.conftest import make_settings

TOKEN = "internal-token-" + "z" * 20
REPO = Path(__file__).resolve().parents[2]


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


async def test_internal_endpoint_requires_exact_bearer(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    url = "/internal/senders/777000444"
    near_misses = [
        TOKEN,  # no scheme
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"Bearer  {TOKEN}",
        f"Bearer\t{TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer x{TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        "Bearer ",
        "Bearer",
    ]
    for header in near_misses:
        refused = await api.client.put(url, json=_body(ctx.slug), headers={"Authorization": header})
        assert refused.status_code == 401, header
        assert refused.json()["error"]["code"] == "invalid_internal_token"
    assert (await api.client.get("/api/senders", headers=ctx.headers)).json() == []
    accepted = await api.client.put(url, json=_body(ctx.slug), headers=AUTH)
    assert accepted.status_code == 200, accepted.text


TRAVERSALS = [
    "../x/y",
    "../y",
    "a/../../etc",
    "a/..",
    "a/.",
    "a/..x",
    "../a",
    "a/b/c",
    "/etc/passwd",
    "a/",
]


async def test_secret_references_validated_by_one_pattern(api: ApiHarness, tmp_path: Path) -> None:
    """The API, the internal endpoint, the token resolver and the CRDs share one pattern."""
    for crd, path in [
        ("senders.scrm.io.yaml", "spec.accessTokenSecretRef"),
        ("scrmtenants.scrm.io.yaml", "spec.database.urlSecretRef"),
    ]:
        ref = _crd_schema(crd, path)["properties"]
        assert ref["name"]["pattern"] == SECRET_NAME_PATTERN
        assert ref["key"]["pattern"] == SECRET_KEY_PATTERN
    assert split_secret_ref("wa-secret.v2/token.txt") == ("wa-secret.v2", "token.txt")

    ctx = await api.new_tenant()
    # A token file just outside the secrets directory, which a traversal would reach.
    secrets_dir = tmp_path / "secrets"
    (secrets_dir / "a").mkdir(parents=True)
    (tmp_path / "y").write_text("EAAG-outside-the-secrets-dir")
    api.settings.secrets_dir = str(secrets_dir)
    for ref in TRAVERSALS:
        assert split_secret_ref(ref) is None, ref
        created = await api.client.post(
            "/api/senders",
            headers=ctx.headers,
            json={
                "phone_number_id": "777000555",
                "display_number": "+62 811",
                "waba_id": "4455",
                "access_token_secret_ref": ref,
            },
        )
        assert created.status_code == 422, ref
        published = await api.client.put(
            "/internal/senders/777000555",
            headers=AUTH,
            json=_body(ctx.slug, access_token=None, access_token_secret_ref=ref),
        )
        assert published.status_code == 422, ref
        stored = Sender(display_number="+62 811", access_token_secret_ref=ref)
        with pytest.raises(Conflict):
            resolve_token(stored, api.settings)
    assert (await api.client.get("/api/senders", headers=ctx.headers)).json() == []
    # The resolver reads a well-formed reference from the directory.
    (secrets_dir / "a" / "y").write_text("EAAG-inside\n")
    assert resolve_token(Sender(access_token_secret_ref="a/y"), api.settings) == "EAAG-inside"


def _crd_schema(file: str, path: str) -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / file).read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in path.split("."):
        schema = schema["properties"][part]
    return dict(schema)
