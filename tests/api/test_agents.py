"""Agents: no minting or touching anyone above you, a tenant keeps an admin, sessions end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from runtime.domain.permissions import PERMISSIONS
from runtime.domain.sessions import SESSION_CONTROL, session_key
from runtime.models import Agent, Event, Role
from tests.api.harness import PASSWORD, ApiHarness, TenantCtx
from tests.support import wait_for


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


async def _role(api: ApiHarness, ctx: TenantCtx, permissions: list[str]) -> str:
    created = await api.client.post(
        "/api/roles",
        headers=ctx.headers,
        json={"name": f"r-{uuid.uuid4().hex[:8]}", "permissions": permissions},
    )
    assert created.status_code == 201, created.text
    role_id: str = created.json()["id"]
    return role_id


def _new_agent_body(ctx: TenantCtx, role_id: str) -> dict[str, Any]:
    return {
        "email": f"{uuid.uuid4().hex[:8]}@{ctx.slug}.example",
        "name": "New",
        "password": PASSWORD,
        "role_id": role_id,
    }


async def test_agents_write_cannot_mint_admins(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    me, headers = await api.new_agent(ctx, permissions=["agents:read", "agents:write"])
    minted = await api.client.post(
        "/api/agents", headers=headers, json=_new_agent_body(ctx, ctx.roles["admin"])
    )
    assert minted.status_code == 403, minted.text
    assert _error(minted)["code"] == "permission_not_held"
    assert "audit:read" in _error(minted)["details"]["missing"]

    peer, _ = await api.new_agent(ctx, permissions=["agents:read"])
    for role_id in (ctx.roles["admin"], await _role(api, ctx, ["agents:read", "roles:write"])):
        promoted = await api.client.patch(
            f"/api/agents/{peer['id']}", headers=headers, json={"role_id": role_id}
        )
        assert promoted.status_code == 403, promoted.text
        assert _error(promoted)["code"] == "permission_not_held"
    assert (await api.client.get(f"/api/agents/{peer['id']}", headers=headers)).json()[
        "role_id"
    ] == peer["role_id"]

    # Roles within the caller's own permissions may still be given.
    lesser = await _role(api, ctx, ["agents:read"])
    created = await api.client.post(
        "/api/agents", headers=headers, json=_new_agent_body(ctx, lesser)
    )
    assert created.status_code == 201, created.text
    moved = await api.client.patch(
        f"/api/agents/{peer['id']}", headers=headers, json={"role_id": me["role_id"]}
    )
    assert moved.status_code == 200, moved.text


async def test_cannot_touch_agent_with_more_permissions(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    _, headers = await api.new_agent(ctx, permissions=["agents:read", "agents:write"])
    team = await api.client.post("/api/teams", headers=ctx.headers, json={"name": "Ops"})
    lesser = await _role(api, ctx, ["agents:read"])
    for target in (ctx.admin_id, uuid.UUID((await api.new_agent(ctx, "supervisor"))[0]["id"])):
        url = f"/api/agents/{target}"
        for method, body in (
            ("PATCH", {"password": "taken over at last"}),
            ("PATCH", {"status": "disabled"}),
            ("PATCH", {"role_id": lesser}),
            ("PATCH", {"name": "Renamed"}),
            ("PATCH", {"team_ids": [team.json()["id"]]}),
            ("DELETE", None),
        ):
            refused = await api.request(method, url, headers=headers, json=body)
            assert refused.status_code == 403, (target, method, body, refused.text)
            assert _error(refused)["code"] == "agent_outranks_caller"
            assert "agents:write" not in _error(refused)["details"]["missing"]
    admin = (await api.client.get(f"/api/agents/{ctx.admin_id}", headers=ctx.headers)).json()
    assert (admin["name"], admin["status"], admin["role_id"], admin["team_ids"]) == (
        "Admin",
        "offline",
        ctx.roles["admin"],
        [],
    )
    await api.login(ctx.admin_email)  # the password is unchanged


# Requests to run at once, the table they write and the rows they write there.
Race = tuple[list[Coroutine[Any, Any, httpx.Response]], str, list[uuid.UUID]]


async def _demote_each_other(api: ApiHarness, ctx: TenantCtx, action: str) -> Race:
    """Two admins, each about to disable, demote or delete the other."""
    first = {"id": str(ctx.admin_id)}
    second, second_headers = await api.new_agent(ctx, "admin")
    requests = []
    for actor, target in ((ctx.headers, second), (second_headers, first)):
        url = f"/api/agents/{target['id']}"
        if action == "delete":
            requests.append(api.request("DELETE", url, headers=actor))
        else:
            body = (
                {"status": "disabled"} if action == "disable" else {"role_id": ctx.roles["agent"]}
            )
            requests.append(api.request("PATCH", url, headers=actor, json=body))
    return requests, "agents", [uuid.UUID(first["id"]), uuid.UUID(second["id"])]


async def _strip_each_others_roles(api: ApiHarness, ctx: TenantCtx) -> Race:
    """Two admins by custom roles (the built-in admin demoted first), each about to drop a
    permission from the other's role."""
    everything = sorted(PERMISSIONS)
    first, first_headers = await api.new_agent(ctx, permissions=everything)
    second, second_headers = await api.new_agent(ctx, permissions=everything)
    demoted = await api.client.patch(
        f"/api/agents/{ctx.admin_id}", headers=first_headers, json={"role_id": ctx.roles["agent"]}
    )
    assert demoted.status_code == 200, demoted.text
    requests = [
        api.request(
            "PATCH", f"/api/roles/{target['role_id']}", headers=actor, json={"permissions": []}
        )
        for actor, target in ((first_headers, second), (second_headers, first))
    ]
    return requests, "roles", [uuid.UUID(first["role_id"]), uuid.UUID(second["role_id"])]


async def _race(url: str, race: Race) -> list[httpx.Response]:
    """Start the requests together and hold each at its first write to the race's rows (locked
    on another connection) until both wait on a lock, so they overlap; then let them go."""
    requests, table, ids = race
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(
                text(f"SELECT id FROM {table} WHERE id = ANY(:ids) FOR UPDATE"), {"ids": ids}
            )
            pending = [asyncio.ensure_future(request) for request in requests]
            await wait_for(lambda: _two_wait_on_locks(conn), within=10)  # both requests wait
        return list(await asyncio.gather(*pending))
    finally:
        await engine.dispose()


async def _two_wait_on_locks(conn: AsyncConnection) -> bool:
    await conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # else frozen per transaction
    waiting = await conn.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )
    return bool(waiting and waiting >= 2)


async def _active_admins(api: ApiHarness, tenant_id: uuid.UUID) -> int:
    async with api.app.state.sessionmaker() as session:
        rows = await session.execute(
            select(Agent.status, Role.permissions)
            .join(Role, Role.id == Agent.role_id)
            .where(Agent.tenant_id == tenant_id)
        )
        return sum(status != "disabled" and set(PERMISSIONS) <= set(p) for status, p in rows)


# PostgreSQL only: SQLite serialises writers, so the two requests could not interleave.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("action", ["disable", "demote", "delete", "strip role"])
async def test_last_active_admin_cannot_be_disabled_demoted_or_deleted(
    api: ApiHarness, action: str
) -> None:
    """Self-lock-out and the "outranks" rule leave a race as the only way to the last admin:
    two admins demote each other at once. One request wins; the other gets 409."""
    ctx = await api.new_tenant()
    race = (
        await _strip_each_others_roles(api, ctx)
        if action == "strip role"
        else await _demote_each_other(api, ctx, action)
    )
    responses = await _race(api.settings.database_url, race)
    codes = sorted(r.status_code for r in responses)
    assert codes in ([200, 409], [204, 409]), [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert _error(refused)["code"] == "last_admin"
    assert await _active_admins(api, ctx.id) == 1


async def test_password_reset_disable_delete_end_sessions(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    for action, body, reason in (
        ("PATCH", {"password": "a brand new secret"}, "password_reset"),
        ("PATCH", {"status": "disabled"}, "disabled"),
        ("DELETE", None, "deleted"),
    ):
        agent, _ = await api.new_agent(ctx)
        tokens = (
            await api.client.post(
                "/api/auth/login", json={"email": agent["email"], "password": PASSWORD}
            )
        ).json()
        old_access = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await api.client.get("/api/auth/me", headers=old_access)).status_code == 200

        done = await api.request(
            action, f"/api/agents/{agent['id']}", headers=ctx.headers, json=body
        )
        assert done.status_code in (200, 204), done.text

        denied = await api.client.get("/api/auth/me", headers=old_access)
        assert denied.status_code == 401, (reason, denied.text)
        refreshed = await api.client.post(
            "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401, (reason, refreshed.text)
        async with api.app.state.sessionmaker() as session:
            controls = (
                await session.scalars(
                    select(Event).where(Event.tenant_id == ctx.id, Event.type == SESSION_CONTROL)
                )
            ).all()
        assert [
            e.payload for e in controls if e.audience == [session_key(uuid.UUID(agent["id"]))]
        ] == [{"action": "revoke", "reason": reason}], reason
