"""Where media bytes are kept: a local directory (default) or an S3-compatible bucket."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from runtime.media import sigv4
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


def store_from_settings(settings: Settings) -> MediaStore:
    if settings.media_store == "local":
        return LocalMediaStore(settings.media_dir)
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
