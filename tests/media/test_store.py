"""The media stores: SigV4 against AWS's published S3 example, the local directory, the
database (on both backends)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.tenants import create_tenant
from runtime.media import sigv4
from runtime.media.store import (
    CHUNK_BYTES,
    DatabaseMediaStore,
    LocalMediaStore,
    MediaMissing,
    S3MediaStore,
    store_from_settings,
)
from runtime.models import MediaBlob, MediaBlobChunk, Tenant
from tests.conftest import make_settings

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


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _new_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with sessionmaker() as session, session.begin():
        slug = f"media-{uuid.uuid4().hex[:10]}"
        return (await create_tenant(session, slug, "Media store test")).id


async def _chunks(sessionmaker: async_sessionmaker[AsyncSession], key: str) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).select_from(MediaBlobChunk).where(MediaBlobChunk.key == key)
        return int(await session.scalar(query) or 0)


async def test_database_store_keeps_files_of_any_size_in_chunks(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await _new_tenant(sessionmaker)
    store = DatabaseMediaStore(sessionmaker)
    # Two whole chunks and a bit, bytes that differ per position (a reordering would show).
    big = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(65_537))
    assert 2 * CHUNK_BYTES < len(big) < 3 * CHUNK_BYTES
    await store.put(f"{tenant}/big", big, "application/pdf")
    await store.put(f"{tenant}/small", b"\x89PNG tiny", "image/png")
    await store.put(f"{tenant}/empty", b"", "text/plain")

    assert await store.get(f"{tenant}/big") == big
    assert await store.get(f"{tenant}/small") == b"\x89PNG tiny"
    assert await store.get(f"{tenant}/empty") == b""
    assert await _chunks(sessionmaker, f"{tenant}/big") == 3
    async with sessionmaker() as session:
        row = await session.get(MediaBlob, f"{tenant}/big")
    assert row is not None
    assert (row.tenant_id, row.content_type, row.size_bytes) == (
        tenant,
        "application/pdf",
        len(big),
    )


async def test_database_store_put_replaces_and_missing_keys_are_missing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await _new_tenant(sessionmaker)
    store = DatabaseMediaStore(sessionmaker)
    key = f"{tenant}/again"
    await store.put(key, b"x" * (CHUNK_BYTES + 1), "image/jpeg")  # two chunks
    await store.put(key, b"second", "image/jpeg")  # a fetch retried after it stored

    assert await store.get(key) == b"second"
    assert await _chunks(sessionmaker, key) == 1  # the old second chunk went too
    with pytest.raises(MediaMissing):
        await store.get(f"{tenant}/nothing")
    with pytest.raises(MediaMissing):
        await store.get(f"{uuid.uuid4()}/again")  # another tenant's key prefix
    for bad in ("../etc/passwd", f"{tenant}/../x", "not-a-tenant/file"):
        with pytest.raises(ValueError):
            await store.put(bad, b"x", "text/plain")


async def test_database_store_files_go_with_their_tenant(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await _new_tenant(sessionmaker)
    store = DatabaseMediaStore(sessionmaker)
    await store.put(f"{tenant}/receipt", b"bytes", "image/png")
    async with sessionmaker() as session, session.begin():
        await session.delete(await session.get(Tenant, tenant))

    with pytest.raises(MediaMissing):
        await store.get(f"{tenant}/receipt")
    assert await _chunks(sessionmaker, f"{tenant}/receipt") == 0


async def test_settings_choose_the_store(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    chosen = store_from_settings(make_settings(database_url, media_store="database"), sessionmaker)
    assert isinstance(chosen, DatabaseMediaStore)
    local = store_from_settings(make_settings(database_url), sessionmaker)
    assert isinstance(local, LocalMediaStore)
    with pytest.raises(ValueError, match="SCRM_MEDIA_S3_ENDPOINT"):
        store_from_settings(make_settings(database_url, media_store="s3"), sessionmaker)
