"""Shared test helpers: constants, condition waits, a recording webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from runtime.whatsapp.signature import SIGNATURE_HEADER, verify
from runtime.whatsapp.simulator import Simulator, SimulatorConfig

APP_SECRET = "test-app-secret"
TOKEN = "EAAtesttoken"
WABA_ID = "102290129340398"
PHONE_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
CUSTOMER = "16505551234"
FAST = SimulatorConfig(
    app_secret=APP_SECRET,
    status_interval=0.01,
    webhook_retry_delays=(0.0, 0.01, 0.01),
)


@dataclass
class Receiver:
    """A webhook receiver that records signed POSTs and fails the first ``fail_first``."""

    fail_first: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    calls: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhook")
        async def webhook(request: Request) -> Response:
            raw = await request.body()
            self.calls += 1
            if self.calls <= self.fail_first:
                return Response(status_code=500)
            self.signatures_ok.append(
                verify(raw, request.headers.get(SIGNATURE_HEADER), APP_SECRET)
            )
            self.bodies.append(json.loads(raw))
            return Response(status_code=200)

        return app

    def values(self, field_name: str = "messages") -> list[dict[str, Any]]:
        return [
            change["value"]
            for body in self.bodies
            for entry in body["entry"]
            for change in entry["changes"]
            if change["field"] == field_name
        ]

    def statuses(self) -> list[dict[str, Any]]:
        return [s for value in self.values() for s in value.get("statuses", [])]


@dataclass
class Sim:
    """An in-process simulator with a Graph/control client over ASGI."""

    app: FastAPI
    http: httpx.AsyncClient

    @property
    def engine(self) -> Simulator:
        simulator: Simulator = self.app.state.simulator
        return simulator

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(f"/_sim/{path}", json=body or {})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def webhooks(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self.http.get("/_sim/webhooks")).json()["data"]
        return data

    async def customer_says(self, text: str = "hi", wa_id: str = CUSTOMER) -> str:
        result = await self.control(
            f"customers/{wa_id}/messages", {"phone_number_id": PHONE_ID, "text": text}
        )
        message_id: str = result["message_id"]
        return message_id


SimFactory = Callable[..., Awaitable[Sim]]
