"""The api service: every HTTP endpoint except the agents' websockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime import web
from runtime.api.body_limits import BodyLimitMiddleware, route_limit
from runtime.api.errors import error_body, install_error_handlers
from runtime.api.routers import (
    agents,
    audiences,
    audit,
    auth,
    campaigns,
    consent,
    contacts,
    conversations,
    ingest_errors,
    internal,
    media,
    pool,
    roles,
    sender_alerts,
    senders,
    teams,
    templates,
    toolkit,
    webhooks,
)
from runtime.bus import make_bus
from runtime.bus.naming import pod_name
from runtime.campaigns import CampaignPipeline
from runtime.clock import Clock, SystemClock
from runtime.db.notify import EVENTS_WRITTEN, INBOUND_STORED, Listener, listening, origin
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.snooze import run_waker
from runtime.ingest import InboundPipeline
from runtime.ingest.endpoint import WebhookEndpoint
from runtime.media.fetcher import MediaFetcher
from runtime.media.store import store_from_settings
from runtime.outbound import OutboundPipeline
from runtime.relay import OutboxRelay
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.ws.service import install_realtime

ROUTERS = [
    auth.router,
    auth.me_router,
    agents.router,
    agents.me_router,
    teams.router,
    roles.router,
    contacts.router,
    consent.router,
    pool.router,
    senders.router,
    sender_alerts.router,
    audit.router,
    ingest_errors.router,
    conversations.router,
    media.router,
    templates.router,
    audiences.router,
    campaigns.router,
    toolkit.canned_router,
    toolkit.labels_router,
    toolkit.router,
    toolkit.mentionable_router,
]


class RefuseNul:
    """Refuse NUL characters in the path or query before routing. Plain ASGI: the
    ``@app.middleware`` form costs two extra tasks per request on every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (b"%00" in scope["query_string"] or "\x00" in scope["path"]):
            message = "Query parameters must not contain NUL (%00) characters."
            response = JSONResponse(error_body("validation_error", message), 422)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings, clock: Clock | None = None, whatsapp: CloudAPIClient | None = None
) -> FastAPI:
    """The api app. ``clock`` and ``whatsapp`` default to the system clock and a Graph API
    client for ``settings.graph_base_url`` (sends are paced by the send queue's shared
    limits, not in the client); the demo and tests pass the simulator's."""
    engine = make_engine(settings.database_url)
    clock = clock or SystemClock()
    whatsapp = whatsapp or CloudAPIClient(settings.graph_base_url, settings.graph_api_version)

    sessionmaker = make_sessionmaker(engine)
    bus = make_bus(settings, f"scrm-api-{pod_name(settings.pod_name)}")
    relay = OutboxRelay(
        sessionmaker,
        bus,
        linger=settings.relay_linger_seconds,
        max_attempts=settings.relay_max_attempts,
        holder_notified=lambda: listener.listening,
    )
    ingest = InboundPipeline(
        engine,
        sessionmaker,
        linger=settings.ingest_linger_seconds,
        batch_size=settings.ingest_batch_size,
        max_attempts=settings.ingest_max_attempts,
        process=settings.ingest_process,
        holder_notified=lambda: listener.listening,
    )
    wakers = {EVENTS_WRITTEN: relay.wake}
    if settings.ingest_process:
        wakers[INBOUND_STORED] = ingest.processor.wake
    listener = Listener(settings.database_url, wakers, own_origin=origin(engine))
    media_store = store_from_settings(settings, sessionmaker)
    outbound = OutboundPipeline(sessionmaker, whatsapp, settings, clock, media_store)
    media_fetcher = MediaFetcher(sessionmaker, whatsapp, media_store, settings, clock)
    feeder = CampaignPipeline(sessionmaker, settings, clock, on_queued=outbound.wake)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        waker = asyncio.create_task(run_waker(sessionmaker, clock))
        try:
            async with (
                relay.running(),
                ingest.running(),
                outbound.running(),
                feeder.running(),
                media_fetcher.running(),
                listening(listener),
            ):
                yield
        finally:
            waker.cancel()
            if realtime is not None:
                await realtime.close()
            await bus.close()
            await whatsapp.aclose()
            await engine.dispose()

    app = FastAPI(
        title="scrm api",
        version="0.1.0",
        description="Multi-tenant WhatsApp Business team inbox: admin and inbox API.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.clock = clock
    app.state.ingest = ingest
    app.state.outbound = outbound
    app.state.campaigns = feeder
    app.state.whatsapp = whatsapp
    app.state.media_store = media_store
    app.state.media_fetcher = media_fetcher
    install_error_handlers(app)

    # Innermost of ours: Meta's hot path skips routing, inside the NUL guard and body limit.
    app.add_middleware(
        WebhookEndpoint, pipeline=ingest, app_secret=settings.whatsapp_app_secret, clock=clock
    )
    app.add_middleware(RefuseNul)
    # Outermost, so the 413 wins over whatever the app answers to a body cut short.
    app.add_middleware(BodyLimitMiddleware, limit_for=partial(route_limit, settings))

    app.include_router(webhooks.router)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(web.router)  # the web inbox at / (assets under /ui/)
    app.include_router(internal.router)
    # Embedded mode (no broker): this process also serves the agents' websockets.
    realtime = None if settings.amqp_url else install_realtime(app, settings, sessionmaker, bus)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> dict[str, str]:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ready"}

    return app
