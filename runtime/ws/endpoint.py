"""The agent websocket: authenticate, bind, catch up, then stream live events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.domain.security import decode_access_token
from runtime.ws.catchup import replay
from runtime.ws.connection import Connection
from runtime.ws.hub import Hub
from runtime.ws.options import WsOptions
from runtime.ws.profile import load_profile

log = logging.getLogger(__name__)

READY = json.dumps({"type": "ready"})
HEARTBEAT = json.dumps({"type": "heartbeat"})
CLOSE_POLICY = 1008  # bad token, unknown/disabled agent, bad cursor
CLOSE_INTERNAL = 1011


@dataclass(frozen=True)
class SocketContext:
    hub: Hub
    sessionmaker: async_sessionmaker[AsyncSession]
    jwt_secret: str
    options: WsOptions


def _cursor(raw: str | None, default: int) -> int | None:
    if raw is None or raw == "":
        return default
    return int(raw) if raw.isdigit() else None


async def _open(ctx: SocketContext, websocket: WebSocket) -> Connection | None:
    """The connection to serve, or None (the handshake was refused before accept)."""
    claims = decode_access_token(websocket.query_params.get("token", ""), ctx.jwt_secret)
    profile = None
    if claims is not None and not ctx.hub.closing:
        async with ctx.sessionmaker() as session:
            profile = await load_profile(session, claims)
    cursor = _cursor(websocket.query_params.get("cursor"), profile.head_seq) if profile else None
    if claims is None or profile is None or cursor is None:
        await websocket.close(CLOSE_POLICY)
        return None
    conn = Connection(
        claims.agent_id, claims.tenant_id, profile.tenant, profile.keys, cursor,
        ctx.options.send_buffer,
    )  # fmt: skip
    try:
        await ctx.hub.attach(conn)
    except Exception:
        log.exception("binding %s failed", claims.agent_id)
        await websocket.close(CLOSE_INTERNAL)
        return None
    return conn


async def _receive_until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _heartbeat(conn: Connection, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        conn.push_control(HEARTBEAT)


async def _stream(conn: Connection, websocket: WebSocket, options: WsOptions) -> None:
    """Run until the client leaves, a send fails, or the connection is ended."""
    tasks = [
        asyncio.create_task(conn.pump(websocket.send_text)),
        asyncio.create_task(_receive_until_disconnect(websocket)),
        asyncio.create_task(_heartbeat(conn, options.heartbeat_seconds)),
        asyncio.create_task(conn.ended.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if conn.close_code is not None:
        with contextlib.suppress(Exception):
            await websocket.close(conn.close_code)


async def serve_socket(ctx: SocketContext, websocket: WebSocket) -> None:
    """``/ws?token=<jwt>&cursor=<n>``: frames before ``{"type":"ready"}`` are catch-up."""
    conn = await _open(ctx, websocket)
    if conn is None:
        return
    try:
        await websocket.accept()
        replayed_upto = await replay(
            ctx.sessionmaker, conn, websocket.send_text, ctx.options.replay_page
        )
        conn.go_live(replayed_upto)
        await websocket.send_text(READY)
        await _stream(conn, websocket, ctx.options)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        await ctx.hub.detach(conn)
