"""`scrm migrate` and `scrm create-admin` on a fresh database, as the operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def _scrm(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SCRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'cli.db'}",
        "SCRM_JWT_SECRET": "x" * 40,
        "SCRM_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SCRM_WHATSAPP_APP_SECRET": "s",
        "SCRM_WHATSAPP_VERIFY_TOKEN": "v",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main()", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_creates_the_operators_tenant_then_admin_is_added(tmp_path: Path) -> None:
    env = {
        "SCRM_TENANT_SLUG": "acme",
        "SCRM_TENANT_NAME": "Acme",
        "SCRM_DEFAULT_PHONE_REGION": "ID",
    }
    first = _scrm(tmp_path, "migrate", **env)
    assert first.returncode == 0, first.stderr
    assert "tenant 'acme' created" in first.stdout
    again = _scrm(tmp_path, "migrate", **env)
    assert "tenant 'acme' exists" in again.stdout

    admin = _scrm(
        tmp_path,
        "create-admin",
        "--email",
        "Boss@Acme.example",
        "--password",
        "long enough pw",
        **env,
    )
    assert admin.returncode == 0, admin.stderr
    assert "admin boss@acme.example created" in admin.stdout
    twice = _scrm(
        tmp_path,
        "create-admin",
        "--email",
        "boss@acme.example",
        "--password",
        "long enough pw",
        **env,
    )
    assert "exists (unchanged)" in twice.stdout

    missing = _scrm(tmp_path, "create-admin", "--email", "a@b.example")
    assert missing.returncode != 0 and "password" in missing.stderr


def test_weak_passwords_refused_by_cli(tmp_path: Path) -> None:
    env = {"SCRM_TENANT_SLUG": "acme"}
    assert _scrm(tmp_path, "migrate", **env).returncode == 0
    for weak in ("short pw", "password1234"):
        refused = _scrm(
            tmp_path, "create-admin", "--email", "boss@acme.example", "--password", weak, **env
        )
        assert refused.returncode != 0
        assert "weak_password" in refused.stderr
    strong = _scrm(
        tmp_path,
        "create-admin",
        "--email",
        "boss@acme.example",
        "--password",
        "long enough pw",
        **env,
    )
    assert "admin boss@acme.example created" in strong.stdout  # the weak attempts made nothing
