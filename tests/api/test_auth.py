from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from runtime.db.base import utcnow
from runtime.domain import auth as auth_domain
from runtime.domain import login_throttle
from runtime.models import Event, LoginThrottle, RefreshToken
from tests.api.harness import PASSWORD, ApiHarness

NEW_PASSWORD = "purple tractor orbits quietly"


def new_address() -> str:
    """A client address of its own, so no other test's failed logins count against it."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


async def _login(
    client: httpx.AsyncClient, email: str, password: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password, **extra}
    )


async def _session_events(api: ApiHarness, agent_id: str) -> list[dict[str, Any]]:
    async with api.app.state.sessionmaker() as session:
        events = await session.scalars(
            select(Event).where(Event.type == "session.control").order_by(Event.id)
        )
        return [e.payload for e in events if e.audience == [f"session.{agent_id}"]]


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


# --- item 6: sessions are revocable -------------------------------------------------------


async def test_refresh_token_reuse_revokes_family(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    first = (await _login(api.client, ctx.admin_email, PASSWORD)).json()
    other_sign_in = (await _login(api.client, ctx.admin_email, PASSWORD)).json()
    second = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    latest = second.json()["refresh_token"]

    # The spent first link comes back (a copy of it was stolen): the whole family ends.
    reused = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "invalid_refresh_token"
    after = await api.client.post("/api/auth/refresh", json={"refresh_token": latest})
    assert after.status_code == 401
    # ... and only that family: the other sign-in goes on.
    other = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": other_sign_in["refresh_token"]}
    )
    assert other.status_code == 200

    async with api.app.state.sessionmaker() as session:
        link = await session.scalar(
            select(RefreshToken).where(
                RefreshToken.agent_id == ctx.admin_id, RefreshToken.rotated_at.is_not(None)
            )
        )
        assert link is not None
        family = await session.scalars(
            select(RefreshToken).where(RefreshToken.family_id == link.family_id)
        )
        assert [row.revoked_at is not None for row in family] == [True, True]
    events = await _session_events(api, str(ctx.admin_id))
    assert {"action": "revoke", "reason": "refresh_reuse", "sid": str(link.family_id)} in events


async def test_logout_revokes_its_family(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    first = (await _login(api.client, ctx.admin_email, PASSWORD)).json()
    rotated = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    latest = rotated.json()["refresh_token"]
    out = await api.client.post("/api/auth/logout", json={"refresh_token": latest})
    assert out.status_code == 204
    assert (
        await api.client.post("/api/auth/refresh", json={"refresh_token": latest})
    ).status_code == 401
    async with api.app.state.sessionmaker() as session:
        family = list(
            await session.scalars(select(RefreshToken).where(RefreshToken.agent_id == ctx.admin_id))
        )
    sign_in = [row for row in family if row.rotated_at is not None][0].family_id
    assert all(row.revoked_at is not None for row in family if row.family_id == sign_in)
    events = await _session_events(api, str(ctx.admin_id))
    assert {"action": "revoke", "reason": "logout", "sid": str(sign_in)} in events


async def test_logout_refuses_that_sign_ins_access_tokens(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    leaving = (await _login(api.client, ctx.admin_email, PASSWORD)).json()
    staying = (await _login(api.client, ctx.admin_email, PASSWORD)).json()
    out = await api.client.post(
        "/api/auth/logout", json={"refresh_token": leaving["refresh_token"]}
    )
    assert out.status_code == 204

    def me(tokens: dict[str, str]) -> Any:
        return api.client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )

    refused = await me(leaving)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert (await me(staying)).status_code == 200  # the other sign-in goes on


async def test_password_change_refuses_old_access_tokens(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, here = await api.new_agent(ctx)
    elsewhere = (await _login(api.client, agent["email"], PASSWORD)).json()
    url = "/api/me/password"

    wrong = await api.client.put(
        url,
        headers=here,
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_password"
    weak = await api.client.put(
        url, headers=here, json={"current_password": PASSWORD, "new_password": "password1234"}
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "weak_password"

    changed = await api.client.put(
        url, headers=here, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    fresh = changed.json()

    # Every access token issued before is refused, this browser's and the other sign-in's.
    for headers in (here, {"Authorization": f"Bearer {elsewhere['access_token']}"}):
        refused = await api.client.get("/api/auth/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_token"
    stale = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}
    )
    assert stale.status_code == 401
    # The caller stays signed in with the fresh pair.
    mine = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await api.client.get("/api/auth/me", headers=mine)).status_code == 200
    assert (
        await api.client.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    ).status_code == 200
    assert (await _login(api.client, agent["email"], PASSWORD)).status_code == 401
    assert (await _login(api.client, agent["email"], NEW_PASSWORD)).status_code == 200
    events = await _session_events(api, agent["id"])
    assert {"action": "revoke", "reason": "password_change"} in events


# --- item 7: no account enumeration, no lock-out by strangers -----------------------------


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the argon2 verifications the login path makes."""
    calls: list[str] = []
    real = auth_domain.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(auth_domain, "verify_password", counting)
    return calls


async def test_login_identical_for_unknown_wrong_disabled(
    api: ApiHarness, argon2_checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = datetime(2030, 1, 1, tzinfo=UTC)  # throttle answers carry Retry-After
    monkeypatch.setattr(login_throttle, "utcnow", lambda: frozen)
    ctx = await api.new_tenant()
    disabled, _ = await api.new_agent(ctx)
    off = await api.client.patch(
        f"/api/agents/{disabled['id']}", headers=ctx.headers, json={"status": "disabled"}
    )
    assert off.status_code == 200
    unknown = f"nobody@{ctx.slug}.example"

    async def attempt(
        email: str, password: str = "wrong password!", address: str = ""
    ) -> tuple[int, Any]:
        argon2_checks.clear()
        client = api.client_at(address or new_address())
        r = await _login(client, email, password)
        assert len(argon2_checks) == 1, (email, argon2_checks)
        return r.status_code, r.json()

    wrong = await attempt(ctx.admin_email)
    assert wrong[0] == 401
    assert await attempt(unknown) == wrong
    assert await attempt(disabled["email"]) == wrong
    assert await attempt(ctx.admin_email.upper()) == wrong

    async def throttled(email: str) -> tuple[int, Any]:
        address = new_address()
        for _ in range(api.settings.login_max_failures_per_email_and_address):
            assert (await attempt(email, address=address)) == wrong
        return await attempt(email, PASSWORD, address=address)  # even the right password

    blocked = await throttled(ctx.admin_email)
    assert blocked[0] == 429
    assert blocked[1]["error"]["code"] == "too_many_attempts"
    assert await throttled(unknown) == blocked
    assert await throttled(disabled["email"]) == blocked
    # The right password: one verification too, and an answer.
    assert (await attempt(ctx.admin_email, PASSWORD))[0] == 200


async def test_tenant_required_revealed_only_after_correct_password(api: ApiHarness) -> None:
    a = await api.new_tenant()
    b = await api.new_tenant()
    twin = await api.client.post(
        "/api/agents",
        headers=b.headers,
        json={
            "email": a.admin_email,
            "name": "Twin",
            "password": NEW_PASSWORD,
            "role_id": b.roles["agent"],
        },
    )
    assert twin.status_code == 201
    client = api.client_at(new_address())
    wrong = await _login(client, a.admin_email, "wrong password!")
    unknown = await _login(client, f"nobody@{a.slug}.example", "wrong password!")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    # Right for one of the two tenants: now the ambiguity may be told.
    for password in (PASSWORD, NEW_PASSWORD):
        ambiguous = await _login(client, a.admin_email, password)
        assert ambiguous.status_code == 422
        assert ambiguous.json()["error"]["code"] == "tenant_required"


async def test_strangers_cannot_lock_out_admin(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    stranger = api.client_at(new_address())
    pair_limit = api.settings.login_max_failures_per_email_and_address
    address_limit = api.settings.login_max_failures_per_address
    guesses = [
        (await _login(stranger, ctx.admin_email, f"guess {n}")).status_code
        for n in range(pair_limit + 3)
    ]
    assert guesses == [401] * pair_limit + [429] * 3
    # Spraying other e-mails from that address: it is refused for any e-mail at its limit.
    for n in range(address_limit - pair_limit):
        sprayed = await _login(stranger, f"user{n}@{ctx.slug}.example", "guess")
        assert sprayed.status_code == 401
    elsewhere = await _login(stranger, f"someone@{ctx.slug}.example", "guess")
    assert elsewhere.status_code == 429
    assert elsewhere.json()["error"]["code"] == "too_many_attempts"
    assert int(elsewhere.headers["Retry-After"]) > 0
    # The real admin signs in from its own address all the same.
    admin = await _login(api.client_at(new_address()), ctx.admin_email, PASSWORD)
    assert admin.status_code == 200


async def test_successful_login_clears_pair_counter(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    client = api.client_at(new_address())
    almost = api.settings.login_max_failures_per_email_and_address - 1
    for _round in range(2):
        for n in range(almost):
            assert (await _login(client, ctx.admin_email, f"typo {n}")).status_code == 401
        assert (await _login(client, ctx.admin_email, PASSWORD)).status_code == 200


async def test_stale_throttle_counters_are_purged(api: ApiHarness) -> None:
    """Sprayed e-mails leave no counter behind once their window is over."""
    window = timedelta(seconds=api.settings.login_throttle_window_seconds)
    async with api.app.state.sessionmaker() as session, session.begin():
        session.add_all(
            LoginThrottle(
                key=f"pair:sprayed{n}@x.example|{new_address()}",
                failures=1,
                window_started_at=utcnow() - 2 * window,
            )  # fmt: skip
            for n in range(50)
        )
    assert (
        await _login(api.client_at(new_address()), "nobody@x.example", "nope")
    ).status_code == 401
    async with api.app.state.sessionmaker() as session:
        keys = set(await session.scalars(select(LoginThrottle.key)))
    assert not any(key.startswith("pair:sprayed") for key in keys)
    assert any(key.startswith("pair:nobody@x.example|") for key in keys)  # the fresh one stays


# --- item 10: password policy, refresh token in a cookie ----------------------------------


async def test_weak_passwords_refused(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, _ = await api.new_agent(ctx)
    for weak, why in (
        ("short pw", "at least 12 characters"),
        ("password1234", "most common passwords"),
        ("aaaaaaaaaaaaaaaa", "too weak"),
    ):
        for method, url, body in (
            (
                "POST",
                "/api/agents",
                {
                    "email": f"w{uuid.uuid4().hex[:6]}@{ctx.slug}.example",
                    "name": "W",
                    "password": weak,
                    "role_id": ctx.roles["agent"],
                },
            ),
            ("PATCH", f"/api/agents/{agent['id']}", {"password": weak}),
            ("PUT", "/api/me/password", {"current_password": PASSWORD, "new_password": weak}),
        ):
            r = await api.client.request(method, url, headers=ctx.headers, json=body)
            assert r.status_code == 422, (url, weak, r.text)
            error = r.json()["error"]
            assert error["code"] == "weak_password"
            assert why in error["message"]
    assert (await _login(api.client, agent["email"], PASSWORD)).status_code == 200


async def test_refresh_cookie_httponly_strict(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    browser = api.client_at(new_address(), base_url="https://api.test")
    login = await _login(browser, ctx.admin_email, PASSWORD, session="cookie")
    assert login.status_code == 200
    assert "refresh_token" not in login.json()
    cookie = login.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith("scrm_refresh=")
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/api/auth" in cookie.lower()

    refreshed = await browser.post("/api/auth/refresh")  # no body: the cookie carries it
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json()
    assert refreshed.headers["set-cookie"] != cookie
    me = await browser.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert me.status_code == 200

    out = await browser.post("/api/auth/logout")
    assert out.status_code == 204
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert browser.cookies.get("scrm_refresh") is None
    again = await browser.post("/api/auth/refresh")
    assert again.status_code == 401
