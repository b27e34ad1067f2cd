"""Guards for tests that need real services: PostgreSQL, RabbitMQ, Chromium.

``bash scripts/services.sh`` starts them; ``bash scripts/test.sh`` does that and sets the env.
When a service is unreachable the test is skipped, or fails when ``CI`` is "true"/"1".
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import shutil
import socket
import threading
import urllib.request
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

from runtime.bus.management import management_api

POSTGRES_URL = "postgresql+asyncpg://scrm:scrm@127.0.0.1:5432/scrm_test"
AMQP_URL = "amqp://scrm:scrm@127.0.0.1:5672/"
RABBITMQ_API = "http://scrm:scrm@127.0.0.1:15672"
HOW = "start it with `bash scripts/services.sh` (or run everything with `bash scripts/test.sh`)"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


BUILD_HOW = "build it with `bash e2e/controlplane/build.sh all` (cached in ~/.cache/scrm)"


def unavailable(what: str, problem: object, how: str = HOW) -> NoReturn:
    """Fail in CI (a missing service or binary is a failure there); elsewhere skip, saying
    how to get it."""
    if in_ci():
        pytest.fail(f"{what} unavailable in CI: {problem}", pytrace=False)
    pytest.skip(f"{what} unavailable: {problem}; {how}")


def _tcp_problem(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc})"


def _run_async_check(url: str) -> str | None:
    """Log in with asyncpg in a helper thread (safe inside a running event loop)."""
    import asyncpg

    dsn = "postgresql://" + url.split("://", 1)[1]
    result: list[str | None] = ["timed out"]

    async def check() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()

    def target() -> None:
        try:
            asyncio.run(check())
            result[0] = None
        except Exception as exc:  # any failure means "unavailable"
            result[0] = f"asyncpg login failed ({type(exc).__name__}: {exc})"

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    return result[0]


@functools.cache
def _postgres_problem(url: str) -> str | None:
    return _tcp_problem(url, 5432) or _run_async_check(url)


@functools.cache
def _rabbitmq_problem(amqp_url: str, api_url: str) -> str | None:
    problem = _tcp_problem(amqp_url, 5672)
    if problem:
        return problem
    api = management_api(api_url)
    request = urllib.request.Request(f"{api.url}/api/overview")
    token = base64.b64encode(":".join(api.auth).encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5):
            return None
    except OSError as exc:
        return f"management API {api.url}/api/overview failed ({exc})"


def require_postgres() -> str:
    """Async SQLAlchemy URL of the test PostgreSQL (``SCRM_TEST_POSTGRES_URL``)."""
    url = os.environ.get("SCRM_TEST_POSTGRES_URL", POSTGRES_URL)
    problem = _postgres_problem(url)
    if problem:
        unavailable("PostgreSQL (SCRM_TEST_POSTGRES_URL)", problem)
    return url


def require_rabbitmq() -> tuple[str, str]:
    """(AMQP URL, management API URL) from SCRM_TEST_AMQP_URL / SCRM_TEST_RABBITMQ_API."""
    amqp_url = os.environ.get("SCRM_TEST_AMQP_URL", AMQP_URL)
    api_url = os.environ.get("SCRM_TEST_RABBITMQ_API", RABBITMQ_API).rstrip("/")
    problem = _rabbitmq_problem(amqp_url, api_url)
    if problem:
        unavailable("RabbitMQ (SCRM_TEST_AMQP_URL, SCRM_TEST_RABBITMQ_API)", problem)
    return amqp_url, api_url


def require_chromium() -> str:
    """Path of a Chromium binary (``CHROMIUM_PATH``, else ``chromium`` on PATH)."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        unavailable("Chromium (CHROMIUM_PATH)", f"{path} is not an executable file")
    return path
