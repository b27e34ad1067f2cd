"""Every endpoint declares a permission, and refuses (403) a principal without it."""

from __future__ import annotations

import uuid
from typing import Any

from runtime.domain.permissions import PERMISSIONS
from tests.api.harness import PASSWORD, ApiHarness, TenantCtx
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


async def test_grant_only_what_you_hold_for_every_permission(api: ApiHarness) -> None:
    """For each permission P: a principal lacking P cannot put P in a role (create or edit)
    nor give an agent a role holding P (create or edit); holding P (and the write permission
    of the route) it can. One tenant, one actor whose role the admin reshapes per step."""
    ctx = await api.new_tenant()
    admin = ctx.headers
    actor, headers = await api.new_agent(ctx, permissions=[])
    empty_role = await _create_role(api, admin, [])
    target, _ = await api.new_agent(ctx, permissions=[])

    async def give_actor(permissions: set[str]) -> None:
        await _patch(
            api, admin, f"/api/roles/{actor['role_id']}", {"permissions": sorted(permissions)}
        )

    for p in PERMISSIONS:
        holding_p = await _create_role(api, admin, [p])
        attempts = {
            "create a role with it": ("POST", "/api/roles", _role_body([p])),
            "edit a role to add it": ("PATCH", f"/api/roles/{empty_role}", {"permissions": [p]}),
            "create an agent with it": ("POST", "/api/agents", _agent_body(ctx, holding_p)),
            "give an agent a role with it": (
                "PATCH",
                f"/api/agents/{target['id']}",
                {"role_id": holding_p},
            ),
        }
        await give_actor(set(PERMISSIONS) - {p})
        for what, (method, url, body) in attempts.items():
            refused = await api.request(method, url, headers=headers, json=body)
            assert refused.status_code == 403, (p, what, refused.text)
            details = refused.json()["error"]["details"]
            # permission_not_held names P; permission_denied when P guards the route itself.
            assert p in details.get("missing", details.get("required_any_of")), (p, what, details)

        await give_actor({"roles:write", "agents:write", p})
        for what, (method, url, body) in attempts.items():
            done = await api.request(method, url, headers=headers, json=body)
            assert done.status_code in (200, 201), (p, what, done.text)
        # Put the shared role and agent back as they were, for the next permission.
        await _patch(api, headers, f"/api/roles/{empty_role}", {"permissions": []})
        await _patch(api, headers, f"/api/agents/{target['id']}", {"role_id": empty_role})


def _role_body(permissions: list[str]) -> dict[str, Any]:
    return {"name": f"r-{uuid.uuid4().hex[:8]}", "permissions": permissions}


def _agent_body(ctx: TenantCtx, role_id: str) -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:8]}@{ctx.slug}.example"
    return {"email": email, "name": "New", "password": PASSWORD, "role_id": role_id}


async def _create_role(api: ApiHarness, headers: dict[str, str], permissions: list[str]) -> str:
    created = await api.client.post("/api/roles", headers=headers, json=_role_body(permissions))
    assert created.status_code == 201, created.text
    role_id: str = created.json()["id"]
    return role_id


async def _patch(api: ApiHarness, headers: dict[str, str], url: str, body: dict[str, Any]) -> None:
    response = await api.client.patch(url, headers=headers, json=body)
    assert response.status_code == 200, (url, body, response.text)
