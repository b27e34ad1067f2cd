"""Inbound reliability: a small run of ``bench/ingest_reliability.py`` (one of each fault)
on private PostgreSQL and RabbitMQ servers, and the refusal Meta retries."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bench.ingest_reliability import Plan, reliability_run
from runtime.api.app import create_app
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
from tests import private_services
from tests.conftest import make_settings
from tests.services import unavailable
from tests.support import free_port


@pytest.fixture
def servers_available() -> None:
    problem = private_services.problem()
    if problem:
        unavailable("private PostgreSQL and RabbitMQ servers", problem)


def test_webhooks_survive_a_ws_kill_and_broker_and_database_restarts(
    servers_available: None, tmp_path: Path
) -> None:
    result = reliability_run(Plan(messages=300, rate=60, ws=2, settle=60, logs=str(tmp_path)))
    failed = [c for c in result.checks if not c.ok]
    assert not failed, f"{failed}\n{result.tables()}\n(server logs in {tmp_path})"
    assert [f.name for f in result.faults] == [
        "ws process SIGKILLed, restarted",
        "RabbitMQ stopped, started",
        "PostgreSQL crashed, started",
    ]
    assert all(f.posted > 0 for f in result.faults), result.tables()


async def test_webhook_refused_with_503_while_the_database_is_unreachable() -> None:
    """Meta retries what is not answered 200; a refused connection is a 503 ``not_stored``
    in the one error shape, like any other storage failure (it was an unhandled 500)."""
    closed = f"postgresql+asyncpg://scrm:scrm@127.0.0.1:{free_port()}/nowhere"
    settings = make_settings(closed)
    app = create_app(settings)
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    signature = sign(body, settings.whatsapp_app_secret.get_secret_value())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers={SIGNATURE_HEADER: signature}
        )
    await app.state.engine.dispose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_stored"
