"""The engine factory: asyncpg speaks plain TCP to a PostgreSQL on this machine unless the
URL asks for TLS."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url

from runtime.db.session import loopback_without_tls_setting, make_engine
from tests.services import require_postgres

_TLS_IN_USE = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")


async def _uses_tls(url: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return bool(await connection.scalar(_TLS_IN_USE))
    finally:
        await engine.dispose()


def _on_host(url: str, host: str, **query: str) -> str:
    return make_url(url).set(host=host).update_query_dict(query).render_as_string(False)


async def test_asyncpg_skips_tls_on_loopback_unless_configured() -> None:
    url = require_postgres()
    assert make_url(url).host in ("127.0.0.1", "localhost", "::1")
    assert await _uses_tls(url) is False  # the test server offers TLS (ssl = on)
    assert await _uses_tls(_on_host(url, "127.0.0.1", ssl="require")) is True
    for host in ("127.0.0.1", "localhost", "::1"):
        assert loopback_without_tls_setting(_on_host(url, host))
        assert not loopback_without_tls_setting(_on_host(url, host, sslmode="require"))
    assert not loopback_without_tls_setting(_on_host(url, "db.example.internal"))
    assert not loopback_without_tls_setting("sqlite+aiosqlite:///scrm.db")
