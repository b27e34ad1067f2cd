"""The send worker's lean HTTP/1.1 transport: real sockets, against the simulator served by
uvicorn and against small asyncio servers that misbehave on purpose. Its failures must keep
httpx's meaning, since the send queue decides "never left" vs "maybe sent" from them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from runtime.outbound.outcomes import Retry, Unknown, classify
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import TemplateNotFound
from runtime.whatsapp.transport import KeepAliveTransport, graph_http
from tests.support import free_port

from .support import CUSTOMER, PHONE_ID, TOKEN, Sim

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """An asyncio server on a free port running ``handler`` per connection; yields its base
    URL and a list that grows by one per accepted connection."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return await reader.readexactly(length)


def answers(*responses: bytes | None) -> Handler:
    """A handler answering successive requests on one connection with ``responses`` (None:
    echo the request's body)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            body = await read_request(reader)
            writer.write(ok(body) if response is None else response)
            await writer.drain()
        await reader.read()  # until the client closes

    return handler


def ok(body: bytes, *headers: bytes) -> bytes:
    lines = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *headers]
    return b"\r\n".join([*lines, b"Content-Length: %d" % len(body), b"", body])


async def post_all(base: str, bodies: Sequence[object]) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=KeepAliveTransport(), timeout=5) as http:
        return [await http.post(f"{base}/v25.0/1/messages", json=body) for body in bodies]


async def test_sends_reuse_one_keep_alive_connection() -> None:
    async with raw_server(answers(None, None, None)) as (base, accepted):
        responses = await post_all(base, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert [r.json() for r in responses] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert len(accepted) == 1


async def test_chunked_answers_and_connection_close_are_honoured() -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
    )
    closing = ok(b'{"b":2}', b"Connection: close")
    async with raw_server(answers(chunked, closing)) as (base, accepted):
        first, second = await post_all(base, [{}, {}])
        async with raw_server(answers(ok(b'{"c":3}'))) as (other, _):
            third = await post_all(other, [{}])
    assert (first.json(), second.json(), third[0].json()) == ({"a": 1}, {"b": 2}, {"c": 3})
    assert len(accepted) == 1  # the chunked answer left the connection reusable


async def test_a_closed_connection_is_not_reused() -> None:
    closing = ok(b"{}", b"Connection: close")
    async with raw_server(answers(closing)) as (base, accepted):
        responses = await post_all(base, [{}, {}, {}])
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len(accepted) == 3


async def test_failures_keep_httpx_meaning_for_the_send_queue() -> None:
    """Refused connection: never left (retry). Closed or silent after the request: maybe
    received (unknown)."""

    async def hang_up(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    with pytest.raises(httpx.ConnectError) as refused:
        await post_all(f"http://127.0.0.1:{free_port()}", [{}])
    assert isinstance(classify(refused.value, 0), Retry)
    async with raw_server(hang_up) as (base, _):
        with pytest.raises(httpx.RemoteProtocolError) as closed:
            await post_all(base, [{}])
    assert isinstance(classify(closed.value, 0), Unknown)
    async with (
        raw_server(silent) as (base, _),
        httpx.AsyncClient(transport=KeepAliveTransport(), timeout=0.2) as http,
    ):
        with pytest.raises(httpx.ReadTimeout) as timed_out:
            await http.post(f"{base}/x", json={})
    assert isinstance(classify(timed_out.value, 0), Unknown)
    async with raw_server(answers(b"SPDY/9 200 OK\r\n\r\n")) as (base, _):
        with pytest.raises(httpx.RemoteProtocolError, match="Not an HTTP/1.1 answer"):
            await post_all(base, [{}])


async def test_graph_sends_through_it_against_the_served_simulator(
    sim: Sim, serve: Callable[[FastAPI], str]
) -> None:
    """The worker's client (graph_http) sends templates to the simulator over real sockets:
    accepted ones carry their wamids, a refusal keeps Meta's typed error."""
    http = graph_http()
    client = CloudAPIClient(serve(sim.app), http=http)
    try:
        results = [
            await client.send_template(
                PHONE_ID, TOKEN, CUSTOMER, "order_update", "en_US", _params(n), once=True
            )
            for n in range(5)
        ]
        with pytest.raises(TemplateNotFound):
            await client.send_template(PHONE_ID, TOKEN, CUSTOMER, "no_such", "en_US", once=True)
    finally:
        await http.aclose()
    assert len({r.message_id for r in results}) == 5
    sent = (await sim.http.get("/_sim/messages")).json()["data"]
    assert len([m for m in sent if m["id"] in {r.message_id for r in results}]) == 5


def _params(n: int) -> list[dict[str, object]]:
    header = {"type": "header", "parameters": [{"type": "text", "text": f"#{n}"}]}
    names = [{"type": "text", "text": "Pablo"}, {"type": "text", "text": f"#{n}"}]
    return [header, {"type": "body", "parameters": names}]


async def test_the_graph_client_keeps_no_cookies() -> None:
    async with raw_server(answers(ok(b"{}", b"Set-Cookie: session=abc"), None)) as (base, _):
        http = graph_http()
        try:
            await http.post(f"{base}/a", json={})
            second = await http.post(f"{base}/b", json={"n": 2})
        finally:
            await http.aclose()
    assert (len(http.cookies.jar), second.json()) == (0, {"n": 2})
