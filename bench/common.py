"""Shared bench helpers: a throwaway PostgreSQL database, a migrated SQLite file, tables,
process CPU time."""

from __future__ import annotations

import os
import platform
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from runtime.db.migrate import upgrade
from runtime.settings import Settings
from tests.support import postgres_database

POSTGRES = os.environ.get(
    "SCRM_TEST_POSTGRES_URL", "postgresql+asyncpg://scrm:scrm@127.0.0.1:5432/scrm_test"
)


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A new, migrated database for one run: a SQLite file in ``workdir``, or a PostgreSQL
    database dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'scrm_bench_{uuid.uuid4().hex[:8]}.db'}"
        upgrade(url)
        yield url
    else:
        with postgres_database(POSTGRES, "scrm_bench") as url:
            yield url


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


def cpu_of(pid: int) -> float:
    """user+sys seconds of a live process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
