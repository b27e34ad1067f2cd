"""Where media bytes are kept: a local directory (default), the database (every replica sees
every byte; the operator's default) or an S3-compatible bucket."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.media import sigv4
from runtime.models import MediaBlob, MediaBlobChunk
from runtime.settings import Settings

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{0,199}$")


class MediaMissing(Exception):
    """No bytes are kept under that key."""


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...


def _checked(key: str) -> str:
    """Keys are ours (``<tenant>/<media id>``); refuse anything that could climb a path."""
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid media key {key!r}")
    return key


class LocalMediaStore:
    """Files under ``root`` (one per key; written to a temporary name, then renamed, so a
    reader never sees half a file)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.root / _checked(key), data)

    async def get(self, key: str) -> bytes:
        path = self.root / _checked(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise MediaMissing(key) from exc

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(path)


CHUNK_BYTES = 1024 * 1024  # one media_blob_chunks row: bounded memory per row, any file size


class DatabaseMediaStore:
    """Rows in ``media_blobs`` with the bytes in 1 MiB ``media_blob_chunks``: every replica
    of every process reads what any other wrote, with no volume or bucket to provide. A put
    replaces the key's bytes in one transaction, so a reader sees the old file or the new,
    never a mix; keys begin with their tenant's id (the row belongs to it and goes with it)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        blob = {
            "key": _checked(key),
            "tenant_id": _tenant_of(key),
            "content_type": content_type,
            "size_bytes": len(data),
        }
        chunks = [
            {"key": key, "seq": seq, "data": data[start : start + CHUNK_BYTES]}
            for seq, start in enumerate(range(0, len(data), CHUNK_BYTES))
        ]
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(MediaBlob).where(MediaBlob.key == key))  # chunks cascade
            await session.execute(insert(MediaBlob), [blob])
            if chunks:
                await session.execute(insert(MediaBlobChunk), chunks)

    async def get(self, key: str) -> bytes:
        """One statement, so one snapshot: a concurrent put cannot mix two files."""
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(
                    select(MediaBlobChunk.data)
                    .select_from(MediaBlob)
                    .outerjoin(MediaBlobChunk, MediaBlobChunk.key == MediaBlob.key)
                    .where(MediaBlob.key == _checked(key))
                    .order_by(MediaBlobChunk.seq)
                )
            ).all()
        if not rows:
            raise MediaMissing(key)
        return b"".join(row.data for row in rows if row.data is not None)


def _tenant_of(key: str) -> uuid.UUID:
    """The tenant a key belongs to: its first segment (``<tenant id>/<media id>``)."""
    try:
        return uuid.UUID(key.split("/", 1)[0])
    except ValueError:
        raise ValueError(f"media key {key!r} does not begin with a tenant id") from None


class S3MediaStore:
    """Objects in an S3-compatible bucket, path-style (``{endpoint}/{bucket}/{key}``),
    signed with SigV4 by plain httpx: MinIO, Ceph, R2 and AWS alike."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        region: str,
        access_key: str,
        secret_key: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._host = urlsplit(self._endpoint).netloc
        self._bucket = bucket
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._http = http or httpx.AsyncClient(timeout=60.0)

    def _request(self, method: str, key: str, data: bytes, extra: dict[str, str]) -> httpx.Request:
        path = f"/{self._bucket}/{_checked(key)}"
        payload_hash = hashlib.sha256(data).hexdigest()
        moment = datetime.now(UTC)
        headers = {
            "host": self._host,
            "x-amz-content-sha256": payload_hash,
            "x-amz-date": moment.strftime("%Y%m%dT%H%M%SZ"),
            **extra,
        }
        headers["authorization"] = sigv4.sign(
            method=method,
            path=path,
            headers=headers,
            payload_hash=payload_hash,
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self._region,
            moment=moment,
        )
        return self._http.build_request(
            method, f"{self._endpoint}{path}", headers=headers, content=data or None
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        request = self._request("PUT", key, data, {"content-type": content_type})
        (await self._http.send(request)).raise_for_status()

    async def get(self, key: str) -> bytes:
        response = await self._http.send(self._request("GET", key, b"", {}))
        if response.status_code == 404:
            raise MediaMissing(key)
        response.raise_for_status()
        return response.content


def store_from_settings(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> MediaStore:
    """The store ``settings.media_store`` names; ``sessionmaker`` is the database's."""
    if settings.media_store == "local":
        return LocalMediaStore(settings.media_dir)
    if settings.media_store == "database":
        return DatabaseMediaStore(sessionmaker)
    missing = [
        name
        for name in ("endpoint", "bucket", "access_key_id", "secret_access_key")
        if not getattr(settings, f"media_s3_{name}")
    ]
    if missing:
        raise ValueError(f"media_store=s3 needs SCRM_MEDIA_S3_{missing[0].upper()}")
    assert settings.media_s3_endpoint and settings.media_s3_bucket
    assert settings.media_s3_access_key_id and settings.media_s3_secret_access_key
    return S3MediaStore(
        settings.media_s3_endpoint,
        settings.media_s3_bucket,
        settings.media_s3_region,
        settings.media_s3_access_key_id,
        settings.media_s3_secret_access_key.get_secret_value(),
    )
