"""A lean HTTP/1.1 transport for httpx, for the send worker's many small Graph calls.

httpx's default transport (httpcore) checks every pooled connection (a ``select`` on each
socket, through anyio) on every request; at hundreds of sends a second that was the largest
part of the worker's CPU. This transport keeps idle keep-alive connections per origin in a
stack and reuses the most recent one whose peer has not closed it; it speaks just enough
HTTP/1.1 for JSON APIs (``Content-Length`` and chunked bodies, ``Connection: close``). The
response body is read whole (no streaming): use it where answers are small.

Failures are httpx's exceptions with httpx's meaning, so callers tell "never left"
(``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``) from "maybe received"
(``WriteError``, ``ReadError``, ``ReadTimeout``, ``RemoteProtocolError``) as before.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ssl
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import httpx

# An idle connection older than this is closed rather than reused: servers drop idle
# keep-alive connections (uvicorn after 5 s), and a request written just as the peer closes
# would be ambiguous (maybe received), which the send queue must treat as ``unknown``.
IDLE_EXPIRY = 4.0
MAX_HEAD = 64 * 1024
Origin = tuple[str, str, int]


class _Connection:
    """One HTTP/1.1 connection: requests are written and answered one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    def usable(self, now: float) -> bool:
        """Still open at both ends, and not idle for long."""
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < IDLE_EXPIRY
        )

    def close(self) -> None:
        self.writer.close()

    async def exchange(
        self, head: bytes, body: bytes, read_timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        """Write one request, read its answer: status, headers, body, and whether the
        connection may be reused."""
        try:
            self.writer.write(head + body)
            await self.writer.drain()
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from exc
        try:
            async with asyncio.timeout(read_timeout):
                return await self._response()
        except TimeoutError as exc:
            raise httpx.ReadTimeout("No answer in time.") from exc
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("The server closed the connection mid-answer.") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("The answer's head is too long.") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def _response(self) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw[:-4].split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"Not an HTTP/1.1 answer: {status_line[:80]!r}")
        status = int(parts[1])
        headers = [_header(line) for line in lines]
        values = {name.lower(): value for name, value in headers}
        keep_alive = values.get(b"connection", b"").lower() != b"close"
        if status in (204, 304) or 100 <= status < 200:
            return status, headers, b"", keep_alive
        if values.get(b"transfer-encoding", b"").lower() == b"chunked":
            return status, headers, await self._chunked(), keep_alive
        if (length := values.get(b"content-length")) is not None:
            return status, headers, await self.reader.readexactly(int(length)), keep_alive
        return status, headers, await self.reader.read(), False  # until the peer closes

    async def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, sep, value = line.partition(b":")
    if not sep:
        raise httpx.RemoteProtocolError(f"Malformed header line: {line[:80]!r}")
    return name.strip(), value.strip()


@dataclass
class _Pool:
    """An origin's idle connections (most recent last) and its connection budget."""

    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` connections per origin; up to ``max_idle`` of them kept
    open between requests."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_idle: int = 32,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._max_idle = max_idle
        self._ssl = ssl_context
        self._pools: dict[Origin, _Pool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        pool = self._pools.get(origin) or self._pools.setdefault(
            origin, _Pool(asyncio.Semaphore(self._max_connections))
        )
        body = await request.aread()
        head = _head(request, len(body))
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await pool.slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("No free connection in time.") from exc
        try:
            connection = self._idle(pool) or await self._connect(origin, timeouts.get("connect"))
            try:
                status, headers, content, reusable = await connection.exchange(
                    head, body, timeouts.get("read")
                )
            except BaseException:
                connection.close()
                raise
        finally:
            pool.slots.release()
        self._release(pool, connection, reusable)
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(content), request=request
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for connection in pool.idle:
                connection.close()
            pool.idle.clear()

    def _idle(self, pool: _Pool) -> _Connection | None:
        now = time.monotonic()
        while pool.idle:
            connection = pool.idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return None

    def _release(self, pool: _Pool, connection: _Connection, reusable: bool) -> None:
        if reusable and len(pool.idle) < self._max_idle:
            connection.idle_since = time.monotonic()
            pool.idle.append(connection)
        else:
            connection.close()

    async def _connect(self, origin: Origin, within: float | None) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._ssl or httpx.create_ssl_context()
            self._ssl = context
        try:
            async with asyncio.timeout(within):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, limit=MAX_HEAD
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"Connecting to {host}:{port} timed out.") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"Cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(reader, writer)


def _head(request: httpx.Request, length: int) -> bytes:
    """The request line and headers (httpx set Host; Content-Length is set here)."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    lines += [
        b"%s: %s" % (name, value)
        for name, value in request.headers.raw
        if name.lower() not in (b"content-length", b"transfer-encoding")
    ]
    if length or request.method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: %d" % length)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _NoCookies(http.cookiejar.CookieJar):
    """Keeps no cookies: the Graph API needs none, and httpx reads every answer's cookies
    into its jar (about two thirds of that work is the jar's)."""

    def extract_cookies(self, response: Any, request: urllib.request.Request) -> None:
        pass


def graph_http(
    timeout: float = 30.0, transport: KeepAliveTransport | None = None
) -> httpx.AsyncClient:
    """An httpx client for Graph calls, without a cookie jar, on ``transport`` or a new
    :class:`KeepAliveTransport` — or on httpx's own transport when a proxy is configured in
    the environment (this one speaks to origins directly)."""
    if transport is None and not _proxied():
        transport = KeepAliveTransport()
    return httpx.AsyncClient(timeout=timeout, transport=transport, cookies=_NoCookies())


def _proxied() -> bool:
    return any(urllib.request.getproxies().get(scheme) for scheme in ("http", "https", "all"))
