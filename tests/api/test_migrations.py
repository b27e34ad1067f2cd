"""The Alembic migrations build exactly the schema the ORM models describe, on both backends,
and every migration can be undone and redone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import runtime.models  # noqa: F401  (registers every table)
from runtime.db.base import Base
from runtime.db.migrate import alembic_config, upgrade
from tests.services import require_postgres
from tests.support import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('mig') / 'scrm.db'}"
    else:
        with postgres_database(require_postgres(), "scrm_migrations_test") as url:
            command.downgrade(alembic_config(url), "base")
            yield url


def _schema_drift(url: str) -> list[object]:
    """What autogenerate would still change (empty when migrations and models agree)."""

    def compare(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async def run() -> list[object]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_match_models_and_round_trip(fresh_database: str) -> None:
    upgrade(fresh_database)
    command.downgrade(alembic_config(fresh_database), "base")
    upgrade(fresh_database)
    assert _schema_drift(fresh_database) == []
