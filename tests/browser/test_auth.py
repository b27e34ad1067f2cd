"""Signing in, staying signed in across a reload, and signing out, in a real browser: the
refresh token lives only in an HttpOnly cookie, never where script can read it."""

from __future__ import annotations

from playwright.sync_api import expect

from runtime.demo import AGENT_EMAIL
from tests.browser.conftest import Demo, sign_in


def test_refresh_cookie_httponly_strict_in_browser(demo: Demo, new_page) -> None:
    page = new_page()
    # Every new access token is announced (open websockets re-authenticate with it).
    page.add_init_script(
        "window.__tokens = 0; window.addEventListener('scrm:token', "
        "(e) => { if (e.detail.accessToken) window.__tokens += 1; });"
    )
    sign_in(page, AGENT_EMAIL, demo.agent_password)
    assert page.evaluate("window.__tokens") >= 1
    cookies = {c["name"]: c for c in page.context.cookies()}
    refresh = cookies["scrm_refresh"]
    assert refresh["httpOnly"] and refresh["secure"]
    assert (refresh["sameSite"], refresh["path"]) == ("Strict", "/api/auth")
    stored = page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert refresh["value"] not in stored and "refresh" not in stored.lower()
    assert page.evaluate("document.cookie") == ""  # script cannot read it

    # A reload trades the cookie for a new access token: still signed in, socket live again.
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-realtime", "live")
    assert page.evaluate("window.__tokens") == 1
    rotated = {c["name"]: c for c in page.context.cookies()}["scrm_refresh"]
    assert rotated["value"] != refresh["value"]
    assert "refresh" not in page.evaluate("JSON.stringify(Object.entries(localStorage))").lower()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert "scrm_refresh" not in {c["name"] for c in page.context.cookies()}
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
