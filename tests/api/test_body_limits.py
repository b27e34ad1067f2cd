"""Body limits hold while the body streams: the real app under uvicorn, a raw socket client."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator

import pytest

from runtime.api.app import create_app
from runtime.api.body_limits import WEBHOOK_MAX_BODY_BYTES
from runtime.settings import Settings
from tests.support import served_in_thread

HUGE = 70 * 1024 * 1024
CHUNK = 64 * 1024
# What may be read beyond a limit before the 413: uvicorn's read-ahead plus both kernels'
# socket buffers. Far below the 70 MiB the client would send.
SLACK = 16 * 1024 * 1024


class CountingBody:
    """Yields ``start`` then filler up to ``total`` bytes in chunks; counts what was taken."""

    def __init__(self, total: int = HUGE, start: bytes = b"") -> None:
        self.total = total
        self.start = start
        self.consumed = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.start:
            self.consumed = len(self.start)
            yield self.start
        while self.consumed < self.total:
            chunk = b"x" * min(CHUNK, self.total - self.consumed)
            self.consumed += len(chunk)
            yield chunk


def _read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except OSError:  # a reset after the answer: keep what arrived
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "no response"
    return int(head.split()[1]), json.loads(body[: _length(data)])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def stream_post(
    base: tuple[str, int], path: str, body: CountingBody, content_type: str, chunked: bool = True
) -> tuple[int, dict[str, object]]:
    """POST ``body`` chunk by chunk (chunked, or with a declared Content-Length), stopping as
    soon as the server answers or hangs up; returns the status and the JSON answer."""
    sock = socket.create_connection(base, timeout=10)
    with sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body.total}"
        head = f"POST {path} HTTP/1.1\r\nHost: api.test\r\nContent-Type: {content_type}\r\n"
        sock.sendall(f"{head}{framing}\r\n\r\n".encode())
        try:
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # the answer is in
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                sock.sendall(b"0\r\n\r\n" if chunked else b"")
        except OSError:  # the server hung up mid-upload
            pass
        return _read_response(sock)


@pytest.fixture
def live_api(settings: Settings) -> Iterator[tuple[str, int]]:
    """The real api app under uvicorn in a thread (SQLite or PostgreSQL)."""
    settings.max_upload_bytes = 2 * 1024 * 1024
    with served_in_thread(create_app(settings)) as port:
        yield ("127.0.0.1", port)


CSV_PART = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\nphone\n"
)
ROUTES = [  # path, content type, start of the body, limit
    ("/webhooks/whatsapp", "application/json", b'{"object": "', WEBHOOK_MAX_BODY_BYTES),
    ("/api/auth/login", "application/json", b'{"email": "', 1024 * 1024),
    ("/api/contacts/imports", "multipart/form-data; boundary=b", CSV_PART, 2 * 1024 * 1024),
]


@pytest.mark.parametrize(("path", "content_type", "start", "limit"), ROUTES)
def test_chunked_body_over_limit_refused_without_reading_rest(
    live_api: tuple[str, int], path: str, content_type: str, start: bytes, limit: int
) -> None:
    body = CountingBody(start=start)
    status, answer = stream_post(live_api, path, body, content_type)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"  # type: ignore[index]
    assert limit < body.consumed < limit + SLACK, body.consumed

    declared = CountingBody(start=start)
    status, answer = stream_post(live_api, path, declared, content_type, chunked=False)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"  # type: ignore[index]
    assert declared.consumed < SLACK, declared.consumed


def test_body_within_limit_still_served(live_api: tuple[str, int]) -> None:
    body = CountingBody(total=1000)
    status, answer = stream_post(live_api, "/api/auth/login", body, "application/json")
    assert (status, body.consumed) == (422, 1000)
