"""Shared bench helpers: a throwaway PostgreSQL database, a migrated SQLite file, tables."""

from __future__ import annotations

import asyncio
import os
import platform
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from runtime.db.migrate import upgrade
from runtime.settings import Settings

POSTGRES = os.environ.get(
    "SCRM_TEST_POSTGRES_URL", "postgresql+asyncpg://scrm:scrm@127.0.0.1:5432/scrm_test"
)


def fresh_database(backend: str, workdir: Path) -> str:
    """A new, migrated database: a SQLite file in ``workdir`` or a PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    else:
        import asyncpg

        name = f"scrm_bench_{uuid.uuid4().hex[:8]}"

        async def create() -> None:
            conn = await asyncpg.connect("postgresql://" + POSTGRES.split("://", 1)[1])
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect("postgresql://" + POSTGRES.split("://", 1)[1])
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def bench_settings(database_url: str, **overrides: object) -> Settings:
    return Settings.model_validate(
        {
            "database_url": database_url,
            "jwt_secret": "bench-" + "j" * 40,
            "encryption_key": Fernet.generate_key().decode(),
            "whatsapp_app_secret": "bench-app-secret",
            "whatsapp_verify_token": "bench-verify",
            **overrides,
        }
    )


def machine() -> str:
    return (
        f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub-markdown table, columns padded for the terminal."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
