"""The media stores: SigV4 against AWS's published S3 example, the local directory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from runtime.media import sigv4
from runtime.media.store import LocalMediaStore, MediaMissing, S3MediaStore

# AWS S3 API reference, "Example: GET Object" (header-based SigV4): the first 10 bytes of
# test.txt in examplebucket, with AWS's documentation keys.
ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HEADERS = {
    "Host": "examplebucket.s3.amazonaws.com",
    "Range": "bytes=0-9",
    "x-amz-content-sha256": sigv4.EMPTY_SHA256,
    "x-amz-date": "20130524T000000Z",
}


def test_canonical_request_matches_aws_example() -> None:
    request, signed = sigv4.canonical_request("GET", "/test.txt", {}, HEADERS, sigv4.EMPTY_SHA256)
    assert signed == "host;range;x-amz-content-sha256;x-amz-date"
    assert request == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{sigv4.EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{sigv4.EMPTY_SHA256}"
    )


def test_signature_matches_aws_example() -> None:
    authorization = sigv4.sign(
        method="GET",
        path="/test.txt",
        headers=HEADERS,
        payload_hash=sigv4.EMPTY_SHA256,
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        moment=datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert authorization == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


async def test_s3_store_puts_and_gets_path_style_signed_objects() -> None:
    """Against a fake bucket (a unit test: the wire format, not a real S3)."""
    objects: dict[str, bytes] = {}
    seen: list[httpx.Request] = []

    def bucket(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PUT":
            objects[request.url.path] = request.content
            return httpx.Response(200)
        found = objects.get(request.url.path)
        return httpx.Response(200, content=found) if found is not None else httpx.Response(404)

    http = httpx.AsyncClient(transport=httpx.MockTransport(bucket))
    store = S3MediaStore("http://minio.test:9000", "scrm-media", "us-east-1", ACCESS, SECRET, http)
    await store.put("t1/m1", b"%PDF-1.4 hello", "application/pdf")
    assert await store.get("t1/m1") == b"%PDF-1.4 hello"
    with pytest.raises(MediaMissing):
        await store.get("t1/absent")
    put = seen[0]
    assert put.url.path == "/scrm-media/t1/m1"
    assert (
        put.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/")
        and "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date"
        in (put.headers["authorization"])
    )
    assert put.headers["x-amz-content-sha256"] != sigv4.EMPTY_SHA256
    await http.aclose()


async def test_local_store_round_trip_and_refuses_path_climbing(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path)
    await store.put("tenant/abc", b"bytes", "image/png")
    assert await store.get("tenant/abc") == b"bytes"
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("*.partial")))
    with pytest.raises(MediaMissing):
        await store.get("tenant/nothing")
    for key in ("../etc/passwd", "/abs", "a/../../b"):
        with pytest.raises(ValueError):
            await store.put(key, b"x", "text/plain")
