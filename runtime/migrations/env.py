"""Alembic environment: runs migrations on the async engine given in the config."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import runtime.models  # noqa: F401  (registers the tables)
from runtime.db.base import Base
from runtime.db.session import make_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":  # enforcement was off: check what it guards
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"Migrations left dangling references: {broken[:5]}")


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url, sqlite_foreign_keys=False)  # batch rebuilds must not cascade
    async with engine.connect() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


asyncio.run(_main())
