"""Drive the api in-process over ASGI, with helpers to create tenants and principals."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from runtime.api.app import create_app
from runtime.domain.tenants import create_admin, create_tenant
from runtime.settings import Settings

PASSWORD = "correct horse battery"


@dataclass
class TenantCtx:
    id: uuid.UUID
    slug: str
    admin_email: str
    headers: dict[str, str]
    admin_id: uuid.UUID
    roles: dict[str, str] = field(default_factory=dict)


class ApiHarness:
    def __init__(self, settings: Settings, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.app = app or create_app(settings)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://api.test"
        )
        self._other_clients: list[httpx.AsyncClient] = []

    def client_at(self, address: str, base_url: str = "http://api.test") -> httpx.AsyncClient:
        """A client whose requests come from ``address`` (the api sees it as the peer)."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(address, 40000)),
            base_url=base_url,
        )
        self._other_clients.append(client)
        return client

    async def ingested(self) -> None:
        """Wait until every webhook the api acknowledged has been applied (or set aside)."""
        await self.app.state.ingest.drained()

    async def sent(self, within: float = 10.0) -> None:
        """Wait until every queued message that is due has been handed to Meta (its outcome
        recorded); messages waiting for a later time stay queued."""
        await self.app.state.outbound.settled(within)

    @contextlib.contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL the app's engine runs inside the block (an executemany counts once)."""
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        engine = self.app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    async def close(self) -> None:
        for client in (self.client, *self._other_clients):
            await client.aclose()
        await self.app.state.outbound.close()  # its sends finish and are recorded
        await self.ingested()  # cancelling a round mid-transaction would strand its connection
        await self.app.state.ingest.close()
        await self.app.state.engine.dispose()

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(method, url, headers=headers, **kwargs)

    async def login(
        self, email: str, password: str = PASSWORD, tenant: str | None = None
    ) -> dict[str, str]:
        body = {"email": email, "password": password}
        if tenant:
            body["tenant"] = tenant
        response = await self.client.post("/api/auth/login", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def new_tenant(self, region: str = "ID") -> TenantCtx:
        slug = f"t-{uuid.uuid4().hex[:10]}"
        email = f"admin@{slug}.example"
        async with self.app.state.sessionmaker() as session:
            tenant = await create_tenant(session, slug, f"Tenant {slug}", region)
            admin = await create_admin(session, tenant, email, "Admin", PASSWORD)
            await session.commit()
            tenant_id, admin_id = tenant.id, admin.id
        headers = await self.login(email)
        roles = (await self.client.get("/api/roles", headers=headers)).json()
        return TenantCtx(
            tenant_id, slug, email, headers, admin_id, {r["name"]: r["id"] for r in roles}
        )

    async def new_agent(
        self,
        ctx: TenantCtx,
        role: str = "agent",
        permissions: list[str] | None = None,
        **fields: Any,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Create an agent (with a built-in role, or a fresh custom role holding exactly
        ``permissions``) and log it in; returns its JSON and its auth headers."""
        role_id = ctx.roles.get(role)
        if permissions is not None:
            created = await self.client.post(
                "/api/roles",
                headers=ctx.headers,
                json={"name": f"r-{uuid.uuid4().hex[:8]}", "permissions": permissions},
            )
            assert created.status_code == 201, created.text
            role_id = created.json()["id"]
        email = f"{uuid.uuid4().hex[:8]}@{ctx.slug}.example"
        response = await self.client.post(
            "/api/agents",
            headers=ctx.headers,
            json={
                "email": email,
                "name": "Agent",
                "password": PASSWORD,
                "role_id": role_id,
                **fields,
            },
        )
        assert response.status_code == 201, response.text
        return response.json(), await self.login(email)
