"""The agent websocket: authenticate, bind, catch up, then stream live events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.domain.security import AccessClaims, decode_access_token
from runtime.ws.catchup import replay
from runtime.ws.connection import CLOSE_SESSION, Connection
from runtime.ws.hub import Hub
from runtime.ws.options import WsOptions
from runtime.ws.profile import load_profile, token_admits

log = logging.getLogger(__name__)

HEARTBEAT = json.dumps({"type": "heartbeat"})
BAD_FRAME = json.dumps(
    {
        "type": "error",
        "code": "bad_frame",
        "message": 'The only client frame is {"type":"auth","token":"<access token>"}.',
    }
)
CLOSE_POLICY = 1008  # bad token, unknown/disabled agent, bad cursor
CLOSE_INTERNAL = 1011
MAX_CURSOR = 2**63 - 1  # events.seq is a BIGINT


@dataclass(frozen=True)
class SocketContext:
    hub: Hub
    sessionmaker: async_sessionmaker[AsyncSession]
    jwt_secret: str
    options: WsOptions


def _cursor(raw: str | None, head: int) -> int | None:
    """The cursor to replay from (never past the tenant's head), or None if malformed."""
    if raw is None or raw == "":
        return head
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_CURSOR:
        return None
    return min(int(raw), head)


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
        ctx.options.send_buffer, claims.sid, claims.expires_at, profile.head_seq,
    )  # fmt: skip
    try:
        await ctx.hub.attach(conn)
    except Exception:
        log.exception("binding %s failed", claims.agent_id)
        await websocket.close(CLOSE_INTERNAL)
        return None
    return conn


async def _reauthenticate(ctx: SocketContext, conn: Connection, token: str) -> None:
    """``{"type":"auth","token":…}``: a fresh access token of the same agent extends the
    socket's life (``auth.ok``); anything else ends it with 4401."""
    claims = decode_access_token(token, ctx.jwt_secret)
    if claims is None or not await _same_agent_admitted(ctx, conn, claims):
        conn.end(CLOSE_SESSION, "invalid token")
        return
    conn.reauthorize(claims.sid, claims.expires_at)
    expires = claims.expires_at.isoformat() if claims.expires_at else None
    conn.push_control(json.dumps({"type": "auth.ok", "expires_at": expires}))


async def _same_agent_admitted(ctx: SocketContext, conn: Connection, claims: AccessClaims) -> bool:
    if (claims.agent_id, claims.tenant_id) != (conn.agent_id, conn.tenant_id):
        return False
    async with ctx.sessionmaker() as session:
        return await token_admits(session, claims)


async def _receive(ctx: SocketContext, conn: Connection, websocket: WebSocket) -> None:
    """Read client frames until the client leaves."""
    while (message := await websocket.receive())["type"] != "websocket.disconnect":
        try:
            frame = json.loads(message.get("text") or "null")
        except ValueError:
            frame = None
        if (
            isinstance(frame, dict)
            and frame.get("type") == "auth"
            and isinstance(frame.get("token"), str)
        ):
            await _reauthenticate(ctx, conn, frame["token"])
        else:
            conn.push_control(BAD_FRAME)


async def _heartbeat(conn: Connection, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        conn.push_control(HEARTBEAT)


async def _expire(conn: Connection) -> None:
    """End the socket when its access token expires without a re-authentication."""
    while conn.expires_at is not None:
        left = (conn.expires_at - datetime.now(UTC)).total_seconds()
        if left <= 0:
            conn.end(CLOSE_SESSION, "token expired")
            return
        await asyncio.sleep(left)  # the deadline may have moved meanwhile: check again


async def _stream(ctx: SocketContext, conn: Connection, websocket: WebSocket) -> None:
    """Run until the client leaves, a send fails, or the connection is ended."""
    tasks = [
        asyncio.create_task(conn.pump(websocket.send_text)),
        asyncio.create_task(_receive(ctx, conn, websocket)),
        asyncio.create_task(_heartbeat(conn, ctx.options.heartbeat_seconds)),
        asyncio.create_task(_expire(conn)),
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
            await websocket.close(conn.close_code, conn.close_reason)


def _ready_frame(cursor: int) -> str:
    """``ready`` with the cursor the socket is now caught up to: the client keeps it as its
    own, so it resumes from there even if no event reached it before the socket dropped
    (without a cursor it would start at the head, and miss what came in between)."""
    return json.dumps({"type": "ready", "cursor": cursor})


async def serve_socket(ctx: SocketContext, websocket: WebSocket) -> None:
    """``/ws?token=<jwt>&cursor=<n>``: frames before ``{"type":"ready","cursor":m}`` are
    catch-up (up to ``m``); live frames after it have a greater ``seq``."""
    conn = await _open(ctx, websocket)
    if conn is None:
        return
    try:
        await websocket.accept()
        replayed_upto = await replay(
            ctx.sessionmaker, conn, websocket.send_text, ctx.options.replay_page
        )
        conn.go_live(replayed_upto)
        if not conn.ended.is_set():
            await websocket.send_text(_ready_frame(replayed_upto))
        await _stream(ctx, conn, websocket)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        await ctx.hub.detach(conn)
