from __future__ import annotations

import uuid
from typing import Any

import httpx

from runtime.domain.events import events_after
from runtime.domain.permissions import PERMISSIONS
from runtime.domain.visibility import personal_key, session_key
from tests.api.harness import ApiHarness


async def test_roles_rules_and_permission_change_events(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    builtin = await api.client.patch(
        f"/api/roles/{ctx.roles['agent']}", headers=ctx.headers, json={"permissions": []}
    )
    assert builtin.status_code == 409 and builtin.json()["error"]["code"] == "builtin_role"
    unknown = await api.client.post(
        "/api/roles", headers=ctx.headers, json={"name": "x", "permissions": ["root:all"]}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_permission"

    holder, _ = await api.new_agent(ctx, permissions=["agents:read"])
    bystander, _ = await api.new_agent(ctx)
    role_id = holder["role_id"]
    in_use = await api.client.delete(f"/api/roles/{role_id}", headers=ctx.headers)
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "role_in_use"

    async with api.app.state.sessionmaker() as session:
        before = max((e.seq for e in await events_after(session, ctx.id, 0)), default=0)
    changed = await api.client.patch(
        f"/api/roles/{role_id}", headers=ctx.headers, json={"permissions": ["teams:read"]}
    )
    assert changed.json()["permissions"] == ["teams:read"]
    async with api.app.state.sessionmaker() as session:
        events = await events_after(session, ctx.id, before)
    holder_id = uuid.UUID(holder["id"])
    assert [(e.type, e.audience) for e in events] == [
        ("permissions.changed", [personal_key(holder_id)]),
        ("session.control", [session_key(holder_id)]),  # its sockets re-scope
    ]
    assert events[1].payload["action"] == "rescope"
    assert personal_key(uuid.UUID(bystander["id"])) not in events[0].audience


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_roles_grant_only_what_caller_holds(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    _, headers = await api.new_agent(ctx, permissions=["roles:read", "roles:write"])

    escalating = await api.client.post(
        "/api/roles",
        headers=headers,
        json={"name": "root", "permissions": ["roles:read", "agents:write", "audit:read"]},
    )
    assert escalating.status_code == 403, escalating.text
    assert _error(escalating)["code"] == "permission_not_held"
    assert _error(escalating)["details"] == {"missing": ["agents:write", "audit:read"]}

    held = await api.client.post(
        "/api/roles", headers=headers, json={"name": "reader", "permissions": ["roles:read"]}
    )
    assert held.status_code == 201, held.text
    widened = await api.client.patch(
        f"/api/roles/{held.json()['id']}",
        headers=headers,
        json={"permissions": ["roles:read", "agents:write"]},
    )
    assert widened.status_code == 403 and _error(widened)["code"] == "permission_not_held"
    narrowed = await api.client.patch(
        f"/api/roles/{held.json()['id']}", headers=headers, json={"permissions": []}
    )
    assert narrowed.status_code == 200 and narrowed.json()["permissions"] == []

    # A role above the caller can be neither stripped nor removed by it.
    above = await api.client.post(
        "/api/roles", headers=ctx.headers, json={"name": "auditor", "permissions": ["audit:read"]}
    )
    above_url = f"/api/roles/{above.json()['id']}"
    for method, body in (
        ("PATCH", {"permissions": []}),
        ("PATCH", {"name": "x"}),
        ("DELETE", None),
    ):
        refused = await api.request(method, above_url, headers=headers, json=body)
        assert refused.status_code == 403, (method, body, refused.text)
        assert _error(refused)["code"] == "role_outranks_caller"
        assert _error(refused)["details"] == {"missing": ["audit:read"]}
    kept = await api.client.get(above_url, headers=ctx.headers)
    assert kept.json()["name"] == "auditor" and kept.json()["permissions"] == ["audit:read"]


async def test_role_holder_cannot_edit_own_role(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    me, headers = await api.new_agent(ctx, permissions=["roles:read", "roles:write"])
    own_url = f"/api/roles/{me['role_id']}"
    for method, body in (
        ("PATCH", {"permissions": sorted(PERMISSIONS)}),
        ("PATCH", {"permissions": ["roles:read"]}),
        ("PATCH", {"name": "mine"}),
        ("DELETE", None),
    ):
        refused = await api.request(method, own_url, headers=headers, json=body)
        assert refused.status_code == 409, (method, body, refused.text)
        assert _error(refused)["code"] == "own_role"
    role = (await api.client.get(own_url, headers=ctx.headers)).json()
    assert role["permissions"] == ["roles:read", "roles:write"]
    assert (await api.client.get("/api/agents", headers=headers)).status_code == 403
