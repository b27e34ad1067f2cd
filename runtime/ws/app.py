"""The standalone ws service: ``/ws``, ``/metrics`` and ``/healthz``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runtime.bus import make_bus
from runtime.bus.naming import pod_name
from runtime.db.session import make_engine, make_sessionmaker
from runtime.settings import Settings
from runtime.ws.options import WsOptions
from runtime.ws.service import Realtime


def create_ws_app(settings: Settings, options: WsOptions | None = None) -> FastAPI:
    engine = make_engine(settings.database_url)
    bus = make_bus(settings, f"scrm-ws-{pod_name(settings.pod_name)}")
    realtime = Realtime(settings, make_sessionmaker(engine), bus, options=options)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        try:
            yield
        finally:
            await realtime.close()
            await bus.close()
            await engine.dispose()

    app = FastAPI(title="scrm-ws", lifespan=lifespan)
    app.include_router(realtime.router)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "pod": realtime.hub.pod}

    return app
