"""Fixtures: seeded in-process simulators and uvicorn servers on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from runtime.whatsapp.simulator import create_app
from tests.support import served_in_thread

from .support import (
    DISPLAY_NUMBER,
    FAST,
    PHONE_ID,
    TOKEN,
    WABA_ID,
    Receiver,
    Sim,
    SimFactory,
)


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Build seeded simulators: ``await make_sim(receiver=..., **config_overrides)``."""
    created: list[Sim] = []

    async def factory(receiver: Receiver | None = None, **overrides: Any) -> Sim:
        if receiver is not None:
            overrides |= {
                "webhook_url": "http://receiver/webhook",
                "webhook_transport": httpx.ASGITransport(app=receiver.app()),
            }
        app = create_app(replace(FAST, **overrides))
        sim = Sim(
            app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
        )
        created.append(sim)
        await sim.control(
            "phone_numbers",
            {
                "id": PHONE_ID,
                "display_phone_number": DISPLAY_NUMBER,
                "waba_id": WABA_ID,
                "access_token": TOKEN,
                "verified_name": "Lucky Shrub",
            },
        )
        await sim.control(
            "templates",
            {
                "waba_id": WABA_ID,
                "name": "order_update",
                "category": "UTILITY",
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                    {"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."},
                ],
            },
        )
        return sim

    yield factory
    for sim in created:
        await sim.engine.aclose()
        await sim.http.aclose()


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    return await make_sim()


@pytest.fixture
def serve() -> Iterator[Callable[[FastAPI], str]]:
    """Run ASGI apps with uvicorn on free 127.0.0.1 ports; returns their base URLs."""
    with ExitStack() as servers:

        def start(app: FastAPI) -> str:
            return f"http://127.0.0.1:{servers.enter_context(served_in_thread(app))}"

        yield start
