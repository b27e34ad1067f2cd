"""Every endpoint declares a permission, and refuses (403) a principal without it."""

from __future__ import annotations

import uuid

from runtime.domain.permissions import PERMISSIONS
from tests.api.harness import ApiHarness
from tests.api.routes import OPEN, endpoints


async def test_every_endpoint_declares_a_permission(api: ApiHarness) -> None:
    undeclared = [
        (e.method, e.path)
        for e in endpoints(api.app)
        if not e.permissions and (e.method, e.path) not in OPEN
    ]
    assert undeclared == []
    for e in endpoints(api.app):
        assert set(e.permissions) <= set(PERMISSIONS), e


async def test_each_endpoint_refuses_a_principal_lacking_its_permission(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    guarded = [e for e in endpoints(api.app) if e.permissions]
    assert len(guarded) > 30
    principals: dict[tuple[str, ...], dict[str, str]] = {}
    for endpoint in guarded:
        if endpoint.permissions not in principals:
            others = sorted(set(PERMISSIONS) - set(endpoint.permissions))
            _, principals[endpoint.permissions] = await api.new_agent(ctx, permissions=others)
        url = endpoint.url(**{p: str(uuid.uuid4()) for p in endpoint.params})
        response = await api.request(
            endpoint.method,
            url,
            headers=principals[endpoint.permissions],
            json={} if endpoint.method in ("POST", "PUT", "PATCH") else None,
        )
        assert response.status_code == 403, (endpoint, response.text)
        assert response.json()["error"]["code"] == "permission_denied"


async def test_holding_the_permission_gets_past_the_check(api: ApiHarness) -> None:
    """The converse, so the test above cannot pass by refusing everyone."""
    ctx = await api.new_tenant()
    _, headers = await api.new_agent(ctx, permissions=["agents:read"])
    assert (await api.client.get("/api/agents", headers=headers)).status_code == 200
    assert (await api.client.get("/api/teams", headers=headers)).status_code == 403
