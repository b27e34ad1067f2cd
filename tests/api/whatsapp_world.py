"""The api wired to an in-process WhatsApp simulator: they share one clock, the api's Graph
client talks to the simulator and the simulator's webhooks go to the api, all over ASGI."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from runtime.api.app import create_app
from runtime.models import Sender
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.simulator import SimulatorConfig
from runtime.whatsapp.simulator import create_app as create_simulator
from tests.api.harness import ApiHarness, TenantCtx
from tests.support import wait_for

WABA_ID = "102290129340398"
TOKEN = "EAAG-simulated-token"
_numbers = itertools.count(106_540_352_000_001)


class _LateASGITransport(httpx.AsyncBaseTransport):
    """ASGI transport whose app is set after construction (the two apps refer to each other)."""

    app: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


class WhatsAppWorld(ApiHarness):
    def __init__(self, settings: Settings, **simulator: Any) -> None:
        to_api = _LateASGITransport()
        self.simulator_app = create_simulator(
            SimulatorConfig(
                webhook_url="http://api.test/webhooks/whatsapp",
                app_secret=settings.whatsapp_app_secret.get_secret_value(),
                status_interval=0.01,
                webhook_retry_delays=(0.0, 0.05, 0.1),
                webhook_transport=to_api,
                **simulator,
            )
        )
        self.sim = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.simulator_app), base_url="http://graph.test"
        )
        graph = CloudAPIClient("http://graph.test", http=self.sim, max_retries=0)
        self.engine = self.simulator_app.state.simulator
        super().__init__(
            settings, create_app(settings, clock=self.engine.state.clock, whatsapp=graph)
        )
        to_api.app = self.app

    async def close(self) -> None:
        # Stop sending while the simulator still answers: a send cut off by a closed client
        # would stay ``sending`` in the shared database and hold up the next test's settle.
        await self.app.state.outbound.close()
        # Let in-flight webhooks finish: cancelling one mid-request strands its DB connection.
        await wait_for(self._webhooks_settled, within=10.0)
        await self.engine.aclose()
        await self.sim.aclose()
        await super().close()

    async def _webhooks_settled(self) -> bool:
        data = (await self.sim.get("/_sim/webhooks")).json()["data"]
        auto_statuses_done = (
            all(
                m.get("status") in ("read", "failed")
                or not m.get("status")
                or m["type"] == "reaction"  # Meta reports only "sent" for a reaction
                for m in (await self.sim.get("/_sim/messages")).json().get("data", [])
            )
            if self.engine.config.auto_statuses
            else True
        )
        return auto_statuses_done and all(d["state"] != "pending" for d in data)

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.sim.post(f"/_sim/{path}", json=body or {})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def fail_next(self, sender_id: str, **fault: Any) -> None:
        """Fail the next Graph call on the number of sender ``sender_id`` as ``fault``
        (``/_sim/faults``) says. Scoped to the number: a send that an earlier test left
        queued in the shared database, claimed by this test's worker, cannot take it."""
        async with self.app.state.sessionmaker() as session:
            number = await session.scalar(
                select(Sender.phone_number_id).where(Sender.id == uuid.UUID(sender_id))
            )
        assert number is not None, f"no sender {sender_id}"
        await self.control("faults", {**fault, "object_id": number})

    async def new_number(self, waba_id: str = WABA_ID, token: str = TOKEN) -> dict[str, Any]:
        """A business number of ``waba_id`` the simulator serves to ``token``; returns the
        ``POST /api/senders`` body that registers it."""
        number = str(next(_numbers))
        display = f"1555{number[-7:]}"
        await self.control(
            "phone_numbers",
            {
                "id": number,
                "display_phone_number": display,
                "waba_id": waba_id,
                "access_token": token,
                "verified_name": "Demo Shop",
            },
        )
        return {
            "phone_number_id": number,
            "display_number": display,
            "waba_id": waba_id,
            "access_token": token,
        }

    async def add_sender(self, ctx: TenantCtx, agent_ids: list[str]) -> dict[str, Any]:
        """A number known to both sides, given to ``agent_ids`` as their primary."""
        created = await self.client.post(
            "/api/senders", headers=ctx.headers, json=await self.new_number()
        )
        assert created.status_code == 201, created.text
        sender: dict[str, Any] = created.json()
        for agent_id in agent_ids:
            r = await self.client.put(
                f"/api/senders/allocations/agents/{agent_id}",
                headers=ctx.headers,
                json={"primary": sender["id"]},
            )
            assert r.status_code == 200, r.text
        return sender

    async def customer_says(
        self, sender: dict[str, Any], wa_id: str, text: str, **extra: Any
    ) -> str:
        result = await self.control(
            f"customers/{wa_id}/messages",
            {"phone_number_id": sender["phone_number_id"], "text": text, "name": "Budi", **extra},
        )
        return str(result["message_id"])

    async def add_template(
        self, name: str, body: str, status: str = "APPROVED", category: str = "UTILITY"
    ) -> None:
        await self.control(
            "templates",
            {
                "waba_id": WABA_ID,
                "name": name,
                "language": "en_US",
                "category": category,
                "status": status,
                "components": [{"type": "BODY", "text": body}],
            },
        )
