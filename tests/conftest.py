"""Shared fixtures: a migrated database per backend (SQLite and PostgreSQL) and the api."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from runtime.settings import Settings
from tests.services import require_postgres
from tests.support import postgres_database

BACKENDS = ["sqlite", "postgres"]
MEDIA_DIR = tempfile.mkdtemp(prefix="scrm-test-media-")  # never the working directory


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "jwt_secret": "test-jwt-secret-" + "x" * 32,
        "encryption_key": Fernet.generate_key().decode(),
        "whatsapp_app_secret": "test-app-secret",
        "whatsapp_verify_token": "test-verify-token",
        "media_dir": MEDIA_DIR,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head with Alembic, once per backend per test session."""
    from runtime.db.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'scrm.db'}"
        upgrade(url)
        yield url
    else:
        with postgres_database(require_postgres(), "scrm_api_test") as url:
            yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)
