"""Helpers every test suite uses: waiting on conditions with deadlines, free ports,
throw-away PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


async def wait_for(
    condition: Callable[[], Awaitable[Any]], *, within: float = 5.0, interval: float = 0.01
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    last: Any = None
    try:
        async with asyncio.timeout(within):
            while True:
                last = await condition()
                if last:
                    return last
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"condition not met within {within}s (last: {last!r})") from None


async def healthy(
    port: int,
    path: str = "/healthz",
    within: float = 30.0,
    process: subprocess.Popen[Any] | None = None,
) -> None:
    """Wait until ``GET path`` on ``port`` answers 200; AssertionError after ``within``
    seconds, or at once if ``process`` (the server being waited for) has exited."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                if (await http.get(path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if process is not None and process.poll() is not None:
                raise AssertionError(f"the server on port {port} exited ({process.returncode})")
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing healthy on port {port} within {within:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _on_server(base_url: str, sql: str) -> None:
    """One statement on the server of ``base_url`` (an async SQLAlchemy PostgreSQL URL)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect("postgresql://" + base_url.split("://", 1)[1])
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def postgres_database(base_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database beside ``base_url``'s (others share the server), migrated to head with
    Alembic or copied from the ``template`` database (no one may be connected to it),
    dropped afterwards. Call outside a running event loop."""
    from runtime.db.migrate import upgrade

    name = f"{prefix}_{secrets.token_hex(4)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    _on_server(base_url, f'CREATE DATABASE "{name}"{copy}')
    try:
        url = base_url.rsplit("/", 1)[0] + f"/{name}"
        if template is None:
            upgrade(url)
        yield url
    finally:
        _on_server(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_sqlite(source: str | Path, target: str | Path) -> None:
    """Copy an SQLite database file (through SQLite's backup, so a WAL is included)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


@contextmanager
def served_in_thread(app: Any) -> Iterator[int]:
    """Run an ASGI app with uvicorn in a thread on a free loopback port; yields the port."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
