"""Embedded mode: api-style app with /ws mounted, in-process bus, SQLite, relay woken on commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

import runtime.models  # noqa: F401
from runtime.bus import make_bus
from runtime.db.base import Base
from runtime.db.session import make_engine, make_sessionmaker
from runtime.relay import OutboxRelay
from runtime.settings import Settings
from runtime.ws import install_realtime
from tests.realtime.conftest import JWT_SECRET, SECRETS_ENV, agent_of, create_world
from tests.realtime.stack import connect, eventually
from tests.support import free_port


async def test_embedded_single_process_delivers_right_after_commit(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'scrm.db'}",
        jwt_secret=SecretStr(JWT_SECRET),
        encryption_key=SecretStr(SECRETS_ENV["SCRM_ENCRYPTION_KEY"]),
        whatsapp_app_secret=SecretStr("s"),
        whatsapp_verify_token=SecretStr("v"),
        pod_name="embedded",
    )
    engine = make_engine(settings.database_url)
    async with engine.begin() as db:
        await db.run_sync(Base.metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    bus = make_bus(settings, "scrm-api")
    # A long poll interval: only the commit hook can make delivery fast.
    relay = OutboxRelay(sessionmaker, bus, poll_interval=30)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        async with relay.running():
            yield
        await realtime.close()
        await bus.close()

    app = FastAPI(lifespan=lifespan)
    realtime = install_realtime(app, settings, sessionmaker, bus)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, "server started")
        world = await create_world(sessionmaker)
        alice = await world.agent()
        client = await connect(f"ws://127.0.0.1:{port}/ws", alice)
        async with asyncio.timeout(5):
            [seq] = await world.emit([agent_of(alice)])
            await client.pump(lambda: len(client.frames) == 1, within=5)
        assert client.seqs == [seq]
        await client.ws.close()
    finally:
        server.should_exit = True
        await serving
        await engine.dispose()
