"""Meta's media rules (Cloud API reference, "Supported media types"), shared by the product
and the simulator: the types each kind of media accepts and its size limit.

Images JPEG/PNG up to 5 MB; stickers WebP up to 500 KB animated, 100 KB static; audio
AAC/AMR/MP3/M4A/OGG (Opus) and video MP4/3GPP (H.264 + AAC) up to 16 MB; documents (plain
text, PDF, Word, Excel, PowerPoint) up to 100 MB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

KB = 1024
MB = 1024 * KB


@dataclass(frozen=True)
class MediaRule:
    mime_types: frozenset[str]
    max_bytes: int


RULES: dict[str, MediaRule] = {
    "image": MediaRule(frozenset({"image/jpeg", "image/png"}), 5 * MB),
    "sticker": MediaRule(frozenset({"image/webp"}), 500 * KB),
    "audio": MediaRule(
        frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}), 16 * MB
    ),
    "video": MediaRule(frozenset({"video/mp4", "video/3gpp", "video/3gp"}), 16 * MB),
    "document": MediaRule(
        frozenset(
            {
                "text/plain",
                "application/pdf",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            }
        ),
        100 * MB,
    ),
}
STATIC_STICKER_MAX = 100 * KB
MEDIA_KINDS = frozenset(RULES)
SENDABLE_KINDS = ("image", "document", "audio", "video")  # stickers are not sent from here
ALL_TYPES = frozenset().union(*(rule.mime_types for rule in RULES.values()))
CAPTION_MAX = 1024


def base_mime(mime_type: str) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg`` (lower case, parameters dropped)."""
    return mime_type.split(";", 1)[0].strip().lower()


def max_bytes(kind: str, animated: bool = True) -> int:
    if kind == "sticker" and not animated:
        return STATIC_STICKER_MAX
    return RULES[kind].max_bytes


def kind_of(mime_type: str) -> str | None:
    """The kind a file of this type is uploaded as (WebP: sticker), None if Meta refuses it."""
    mime = base_mime(mime_type)
    return next((kind for kind, rule in RULES.items() if mime in rule.mime_types), None)


def sha256_matches(data: bytes, expected: str) -> bool:
    """Whether ``expected`` is the SHA-256 of ``data``, written in hex (``GET /{media-id}``)
    or base64 (as webhooks may carry it)."""
    digest = hashlib.sha256(data).digest()
    given = expected.strip()
    if hmac.compare_digest(digest.hex(), given.lower()):
        return True
    try:
        return hmac.compare_digest(digest, base64.b64decode(given, validate=True))
    except (binascii.Error, ValueError):
        return False
