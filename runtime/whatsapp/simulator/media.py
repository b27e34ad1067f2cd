"""Simulated media: upload (``POST /{phone-number-id}/media``), URL lookup
(``GET /{media-id}``) and download from a short-lived, token-protected URL, refused where
Meta refuses (a type or size Meta does not take, an unknown id, a missing or foreign token,
an expired URL)."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from runtime.whatsapp.media import RULES, base_mime, kind_of, max_bytes
from runtime.whatsapp.simulator.faults import (
    GraphFault,
    invalid_parameter,
    unknown_object,
)
from runtime.whatsapp.simulator.state import PhoneNumber, SimClock

URL_LIFETIME = 300.0  # Meta: a media URL expires after about 5 minutes
DOWNLOAD_PATH = "/whatsapp_business/attachments/"


@dataclass(frozen=True)
class MediaObject:
    id: str
    waba_id: str  # the numbers of this WABA may look it up and send it
    mime_type: str
    data: bytes
    filename: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class MediaLibrary:
    """Media known to the simulated Meta: uploaded by a business or sent by a customer."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._secret = os.urandom(16)
        self.items: dict[str, MediaObject] = {}

    def add(self, waba_id: str, data: bytes, mime_type: str, filename: str | None) -> MediaObject:
        media = MediaObject(
            str(int.from_bytes(os.urandom(7), "big")), waba_id, mime_type, data, filename
        )
        self.items[media.id] = media
        return media

    def visible(self, media_id: str, numbers: list[PhoneNumber], method: str) -> MediaObject:
        """The media if one of the token's numbers belongs to its WABA (code 100, subcode 33
        for an id that is unknown or foreign, as Graph answers)."""
        media = self.items.get(media_id)
        if media is None or all(n.waba_id != media.waba_id for n in numbers):
            raise unknown_object(media_id, method)
        return media

    def check_sendable(self, number: PhoneNumber, kind: str, content: dict[str, Any]) -> None:
        """A send by media id needs an id this number's WABA uploaded or received."""
        media_id = content.get("id")
        if media_id is None:
            return
        media = self.items.get(str(media_id))
        if media is None or media.waba_id != number.waba_id:
            raise invalid_parameter(
                f"Param {kind}['id'] is not a valid whatsapp business account media attachment ID"
            )

    def info(self, media: MediaObject, base_url: str) -> dict[str, Any]:
        expires = int(self._clock.now() + URL_LIFETIME)
        url = (
            f"{base_url.rstrip('/')}{DOWNLOAD_PATH}?mid={media.id}&ext={expires}"
            f"&hash={self._hash(media.id, expires)}"
        )
        return {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.data),
            "id": media.id,
        }

    def download(self, mid: str, ext: str, digest: str) -> MediaObject | None:
        """The media a download URL names, None if it is forged, unknown or expired."""
        media = self.items.get(mid)
        if media is None or not ext.isdigit():
            return None
        if not hmac.compare_digest(digest, self._hash(mid, int(ext))):
            return None
        return media if self._clock.now() <= int(ext) else None

    def _hash(self, media_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{media_id}:{expires}".encode(), "sha256").hexdigest()


def check_upload(mime_type: str, size: int) -> None:
    """Meta refuses an upload of a type it does not take (100) or over its kind's limit."""
    kind = kind_of(mime_type)
    if kind is None:
        allowed = ", ".join(sorted({t for rule in RULES.values() for t in rule.mime_types}))
        raise invalid_parameter(
            f"Param file must be a file with one of the following types: {allowed}. "
            f"Received file of type '{base_mime(mime_type)}'."
        )
    if size > max_bytes(kind):
        raise GraphFault(
            131053,
            details=f"Media file size {size} bytes exceeds the {kind} limit of "
            f"{max_bytes(kind)} bytes.",
        )
    if size == 0:
        raise GraphFault(131053, details="The media file is empty.")


def tiny_png(rgb: tuple[int, int, int] = (37, 211, 102), size: int = 16) -> bytes:
    """A small solid-colour PNG (what a simulated customer's photo contains)."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
