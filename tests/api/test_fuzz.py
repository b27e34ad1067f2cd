"""Garbage in, never a 500 out: schemathesis generates requests from our own OpenAPI schema
(valid and invalid bodies, odd strings, big numbers) against a real api process, signed in
as a tenant admin, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.tenants import create_admin, create_tenant
from runtime.whatsapp.simulator import SimulatorConfig
from runtime.whatsapp.simulator import create_app as create_simulator
from tests.conftest import make_settings
from tests.support import free_port, healthy, served_in_thread

PASSWORD = "fuzzing password"


async def _seed(url: str, email: str) -> None:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        tenant = await create_tenant(session, email.split("@")[1].split(".")[0], "Fuzz", "ID")
        await create_admin(session, tenant, email, "Admin", PASSWORD)
        await session.commit()
    await engine.dispose()


@pytest.fixture(scope="module")
def graph() -> Iterator[str]:
    """The WhatsApp simulator, standing in for Meta's Graph API (sender registration asks it)."""
    with served_in_thread(create_simulator(SimulatorConfig())) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(database_url: str, graph: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A real api process on a fresh tenant; yields its base URL and admin headers."""
    settings_ = make_settings(database_url)
    email = f"admin@fuzz-{uuid.uuid4().hex[:8]}.example"
    asyncio.run(_seed(database_url, email))
    port = free_port()
    env = {
        **os.environ,
        "SCRM_DATABASE_URL": database_url,
        "SCRM_JWT_SECRET": settings_.jwt_secret.get_secret_value(),
        "SCRM_ENCRYPTION_KEY": settings_.encryption_key.get_secret_value(),
        "SCRM_WHATSAPP_APP_SECRET": "s",
        "SCRM_WHATSAPP_VERIFY_TOKEN": "v",
        "SCRM_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000000",
        "SCRM_LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS": "1000000",
        "SCRM_GRAPH_BASE_URL": graph,
    }
    code = (
        "from runtime.api.app import create_app; from runtime.settings import Settings; "
        f"from runtime.ws.server import serve; serve(create_app(Settings()), '127.0.0.1', {port}, "
        "log_level='warning')"
    )
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        # a loaded machine has taken over 15 s to start one
        asyncio.run(healthy(port, within=90, process=server))
        with httpx.Client(base_url=base, timeout=10) as http:
            token = http.post(
                "/api/auth/login", json={"email": email, "password": PASSWORD}
            ).json()["access_token"]
        yield base, {"Authorization": f"Bearer {token}"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_no_input_makes_a_server_error(served: tuple[str, dict[str, str]]) -> None:
    base, headers = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40

    calls = []
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
            derandomize=True, database=None,
        )  # fmt: skip
        def check(case: Any) -> None:
            response = case.call(base_url=base, headers=headers)
            calls.append(response.status_code)
            where = (case.method, case.formatted_path, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
                body = response.json()
                assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), where

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (e.g. no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation
    # Both valid and invalid requests were made, and the invalid ones were refused cleanly.
    assert len(calls) > 400 and any(c < 300 for c in calls) and calls.count(422) > 50
