"""Shared fixtures: a migrated database per backend (SQLite and PostgreSQL) and the api."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from cryptography.fernet import Fernet

from runtime.settings import Settings
from tests.services import require_postgres

BACKENDS = ["sqlite", "postgres"]


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "jwt_secret": "test-jwt-secret-" + "x" * 32,
        "encryption_key": Fernet.generate_key().decode(),
        "whatsapp_app_secret": "test-app-secret",
        "whatsapp_verify_token": "test-verify-token",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def _fresh_postgres_database(base_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``base_url``; return its URL."""
    import asyncpg

    dsn = "postgresql://" + base_url.split("://", 1)[1]

    async def recreate() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    return base_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated to head with Alembic, once per backend per test session."""
    from runtime.db.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'scrm.db'}"
    else:
        url = _fresh_postgres_database(require_postgres(), f"scrm_api_test_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)
