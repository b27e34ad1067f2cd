from __future__ import annotations

from tests.api.harness import PASSWORD, ApiHarness


async def test_login_me_refresh_logout(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    login = await api.client.post(
        "/api/auth/login", json={"email": ctx.admin_email.upper(), "password": PASSWORD}
    )
    assert login.status_code == 200
    tokens = login.json()
    me = await api.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["tenant_slug"] == ctx.slug
    assert "agents:write" in me.json()["permissions"]

    refreshed = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    # Rotation: the old refresh token is spent.
    again = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_refresh_token"

    new_refresh = refreshed.json()["refresh_token"]
    assert (
        await api.client.post("/api/auth/logout", json={"refresh_token": new_refresh})
    ).status_code == 204
    after = await api.client.post("/api/auth/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401


async def test_wrong_password_and_unknown_email_look_the_same(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    wrong = await api.client.post(
        "/api/auth/login", json={"email": ctx.admin_email, "password": "nope"}
    )
    unknown = await api.client.post(
        "/api/auth/login", json={"email": "nobody@nowhere.example", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_lockout_after_repeated_failures(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    for _ in range(api.settings.login_max_failures):
        r = await api.client.post(
            "/api/auth/login", json={"email": ctx.admin_email, "password": "bad"}
        )
        assert r.status_code == 401
    locked = await api.client.post(
        "/api/auth/login", json={"email": ctx.admin_email, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    assert int(locked.headers["Retry-After"]) > 0


async def test_disabled_agent_cannot_log_in_nor_use_its_token(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, headers = await api.new_agent(ctx)
    assert (await api.client.get("/api/auth/me", headers=headers)).status_code == 200
    r = await api.client.patch(
        f"/api/agents/{agent['id']}", headers=ctx.headers, json={"status": "disabled"}
    )
    assert r.status_code == 200
    denied = await api.client.get("/api/auth/me", headers=headers)
    assert denied.status_code == 401  # disabling ended its sessions: the token is spent
    assert denied.json()["error"]["code"] == "invalid_token"
    login = await api.client.post(
        "/api/auth/login", json={"email": agent["email"], "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_garbage_tokens_are_refused(api: ApiHarness) -> None:
    for header in ({}, {"Authorization": "Bearer x.y.z"}, {"Authorization": "Basic abc"}):
        r = await api.client.get("/api/agents", headers=header)
        assert r.status_code in (401, 403)
        assert r.json()["error"]["code"] in ("not_authenticated", "invalid_token")


async def test_same_email_in_two_tenants_needs_the_tenant(api: ApiHarness) -> None:
    a = await api.new_tenant()
    b = await api.new_tenant()
    # Give tenant B an agent with tenant A's admin e-mail.
    await api.client.post(
        "/api/agents",
        headers=b.headers,
        json={
            "email": a.admin_email,
            "name": "Twin",
            "password": PASSWORD,
            "role_id": b.roles["agent"],
        },
    )
    ambiguous = await api.client.post(
        "/api/auth/login", json={"email": a.admin_email, "password": PASSWORD}
    )
    assert ambiguous.status_code == 422
    assert ambiguous.json()["error"]["code"] == "tenant_required"
    headers = await api.login(a.admin_email, tenant=b.slug)
    me = (await api.client.get("/api/auth/me", headers=headers)).json()
    assert me["tenant_slug"] == b.slug
