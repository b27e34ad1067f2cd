"""The admin console in a real browser: CSV import with the per-row report, bulk assign,
a custom role whose permissions change under a signed-in user, the other admin screens."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from runtime.demo import ADMIN_EMAIL
from tests.browser.conftest import Demo, sign_in

CSV = (
    "phone,name,email,tags,city\n"
    "+6281300000001,Andi Wijaya,andi@example.com,vip|jakarta,Jakarta\n"
    "081300000002,Bayu Dua,,,Bandung\n"
    ",No Phone,,,\n"
    "+62813abc,Bad Number,,,\n"
    "+6281300000005,Bad Email,not-an-email,,\n"
)


def test_csv_import_reports_bad_rows_then_bulk_assign(demo: Demo, new_page, shots) -> None:
    page = new_page()
    sign_in(page, ADMIN_EMAIL, demo.admin_password, "/#/contacts")
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_role("button", name="Import", exact=True).click()

    report = page.locator(".import-report")
    expect(report).to_contain_text("Rows: 5")
    expect(report).to_contain_text("Created: 2")
    expect(report).to_contain_text("Errors: 3")
    expect(page.get_by_label("Upload progress")).to_have_attribute("value", "100")
    rows = report.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("4")
    expect(rows.nth(0)).to_contain_text("missing_phone")
    expect(rows.nth(1)).to_contain_text("invalid_phone")
    expect(rows.nth(1)).to_contain_text("+62813abc")
    expect(rows.nth(2)).to_contain_text("invalid_email")
    shots(page, "contacts-import")

    andi = page.locator("tbody tr", has_text="Andi Wijaya")
    expect(andi).to_contain_text("pool")
    andi.get_by_label("Select Andi Wijaya").check()
    page.get_by_label("Assign selected to").select_option(label="Siti (agent)")
    page.get_by_role("button", name="Assign selected").click()
    expect(page.locator("tbody tr", has_text="Andi Wijaya")).to_contain_text("Siti (agent)")


def test_role_change_hides_what_is_no_longer_allowed(demo: Demo, new_page, shots) -> None:
    admin = new_page()
    sign_in(admin, ADMIN_EMAIL, demo.admin_password, "/#/roles")
    admin.get_by_label("Role name").fill("Auditor")
    admin.get_by_label("Description").fill("Reads agents and the audit log")
    admin.get_by_role("button", name="Create role").click()
    for permission in ("agents:read", "audit:read", "templates:read"):
        admin.get_by_label(f"Auditor: {permission}").check()
    admin.get_by_role("button", name="Save role Auditor").click()
    expect(admin.get_by_text("Role Auditor saved.").last).to_be_visible()
    expect(admin.get_by_label("admin: agents:read")).to_be_disabled()  # built-in
    shots(admin, "admin-roles")

    admin.get_by_role("link", name="Agents").click()
    form = admin.get_by_role("form", name="Create an agent")
    form.get_by_label("Email").fill("audrey@demo.example")
    form.get_by_label("Name").fill("Audrey Auditor")
    form.get_by_label("Initial password").fill("correct-horse-42")
    form.get_by_label("Role").select_option(label="Auditor")
    form.get_by_role("button", name="Create agent").click()
    expect(admin.locator("tbody tr", has_text="audrey@demo.example")).to_be_visible()
    shots(admin, "admin-agents")

    auditor = new_page()
    sign_in(auditor, "audrey@demo.example", "correct-horse-42")
    nav = auditor.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link")).to_have_text(["Agents", "Templates", "Audit log"])
    expect(auditor.get_by_role("heading", name="Agents")).to_be_visible()  # first allowed

    admin.get_by_role("link", name="Roles").click()
    admin.get_by_label("Auditor: agents:read").uncheck()
    admin.get_by_role("button", name="Save role Auditor").click()
    expect(admin.get_by_text("Role Auditor saved.").last).to_be_visible()

    # The change reaches the auditor's open page live (a permissions.changed event): the
    # Agents section it was showing goes away and the menu shrinks, without any click.
    expect(nav.get_by_role("link")).to_have_text(["Templates", "Audit log"])
    expect(auditor.get_by_text("Agents is no longer available").last).to_be_visible()
    expect(auditor.get_by_role("heading", name="Message templates")).to_be_visible()
    expect(auditor.locator("body")).to_have_attribute("data-realtime", "live")  # reconnected
    # A bookmarked address of a section that is no longer allowed leads elsewhere.
    auditor.goto("/#/agents")
    expect(auditor).to_have_url(re.compile("#/templates$"))
    expect(auditor.get_by_role("alert").filter(has_text="no access to agents")).to_be_visible()


def test_admin_screens(demo: Demo, new_page, shots) -> None:
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to the inbox")).to_be_visible()
    shots(page, "login")
    sign_in(page, ADMIN_EMAIL, demo.admin_password, "/#/senders")
    senders = page.locator("tbody tr", has_text="+6281100000001").first
    expect(senders).to_contain_text("GREEN")
    expect(senders).to_contain_text("Team Customer Care (primary)")
    shots(page, "admin-senders")

    page.get_by_role("link", name="Templates").click()
    expect(page.locator("tbody tr", has_text="order_update")).to_contain_text("APPROVED")
    page.get_by_role("button", name="Sync from WhatsApp").click()
    expect(page.get_by_text(re.compile(r"Synced: \d+ new"))).to_be_visible()
    shots(page, "admin-templates")

    page.get_by_role("link", name="Teams").click()
    expect(page.locator("tbody tr", has_text="Customer Care")).to_contain_text("round robin")

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tbody tr").first).to_be_visible()
    shots(page, "admin-audit")
