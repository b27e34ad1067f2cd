from __future__ import annotations

import uuid

from runtime.domain.events import events_after
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
