"""Realtime: the websocket route plus its hub, mountable in any FastAPI app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.bus import Bus
from runtime.bus.naming import pod_name
from runtime.settings import Settings
from runtime.ws.endpoint import SocketContext, serve_socket
from runtime.ws.hub import Hub
from runtime.ws.options import WsOptions


class Realtime:
    """Owns this process's agent sockets; call :meth:`close` on shutdown, before the bus."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        options: WsOptions | None = None,
    ) -> None:
        self.hub = Hub(bus, pod_name(settings.pod_name))
        self._ctx = SocketContext(
            self.hub, sessionmaker, settings.jwt_secret.get_secret_value(),
            options or WsOptions.from_settings(settings),
        )  # fmt: skip
        self.router = APIRouter()
        self.router.add_api_websocket_route("/ws", self._endpoint)

    async def _endpoint(self, websocket: WebSocket) -> None:
        await serve_socket(self._ctx, websocket)

    async def close(self) -> None:
        """Close sockets with 1012 and delete this pod's queues."""
        await self.hub.close()


def install_realtime(
    app: FastAPI,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
) -> Realtime:
    """Mount ``/ws`` on ``app`` (embedded mode); the app's lifespan must ``await close()``."""
    realtime = Realtime(settings, sessionmaker, bus)
    app.include_router(realtime.router)
    return realtime
