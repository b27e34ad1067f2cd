"""FastAPI application factory for the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from runtime.whatsapp.simulator import control, graph, media_routes, phone
from runtime.whatsapp.simulator.config import SimulatorConfig
from runtime.whatsapp.simulator.engine import Simulator
from runtime.whatsapp.simulator.faults import (
    GraphFault,
    ServerFault,
    graph_fault_handler,
    server_fault_handler,
)


def create_app(config: SimulatorConfig) -> FastAPI:
    """A simulator app; its :class:`Simulator` is at ``app.state.simulator``."""
    simulator = Simulator(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await simulator.aclose()

    app = FastAPI(title="WhatsApp Cloud API simulator", lifespan=lifespan)
    app.state.simulator = simulator
    app.add_exception_handler(GraphFault, graph_fault_handler)
    app.add_exception_handler(ServerFault, server_fault_handler)
    app.include_router(control.router)
    app.include_router(phone.router)  # before the Graph routes, whose paths would match /_sim
    app.include_router(media_routes.router)  # before the Graph routes: /{version}/{id} would match
    app.include_router(graph.router)
    return app
