"""Media messages: Meta's type and size limits (runtime/whatsapp/media.py) as the API's
errors, and how a message's file is shown. The same rules refuse an agent's upload before
anything reaches Meta and an inbound file before its bytes are kept."""

from __future__ import annotations

from typing import Any

from runtime.db.base import as_utc
from runtime.domain.errors import Invalid, PayloadTooLarge
from runtime.models import MediaFile
from runtime.whatsapp.media import (
    CAPTION_MAX,
    RULES,
    SENDABLE_KINDS,
    base_mime,
    max_bytes,
)

FILENAME_MAX = 240
# Shown in the page (inline); everything else is served only as a download.
INLINE_TYPES = frozenset().union(
    *(RULES[kind].mime_types for kind in ("image", "sticker", "audio", "video"))
)


def check(kind: str, mime_type: str, size: int | None, *, animated: bool = True) -> None:
    """Refuse a file Meta would refuse: 422 ``unsupported_media_type`` for its type, 413
    ``media_too_large`` for its size (``size`` None: not known yet)."""
    rule = RULES[kind]
    if base_mime(mime_type) not in rule.mime_types:
        raise Invalid(
            "unsupported_media_type",
            f"WhatsApp does not accept {mime_type or 'this file type'} as {kind}; "
            f"allowed: {', '.join(sorted(rule.mime_types))}.",
            {"kind": kind, "mime_type": mime_type, "allowed": sorted(rule.mime_types)},
        )
    limit = max_bytes(kind, animated)
    if size is not None and size > limit:
        raise PayloadTooLarge(
            "media_too_large",
            f"This {kind} is {size} bytes; WhatsApp accepts at most {limit} bytes.",
            {"kind": kind, "size": size, "max_bytes": limit},
        )


def kind_for_upload(mime_type: str, requested: str | None) -> str:
    """The kind an agent's file is sent as: ``requested`` if given (e.g. a PNG as a
    document is not allowed: Meta wants documents of document types), else by its type."""
    mime = base_mime(mime_type)
    if requested is not None:
        if requested not in SENDABLE_KINDS:
            raise Invalid(
                "unsupported_media_kind",
                f"Media can be sent as {', '.join(SENDABLE_KINDS)}; not as {requested}.",
            )
        return requested
    for kind in SENDABLE_KINDS:
        if mime in RULES[kind].mime_types:
            return kind
    allowed = sorted(set().union(*(RULES[k].mime_types for k in SENDABLE_KINDS)))
    raise Invalid(
        "unsupported_media_type",
        f"WhatsApp does not accept {mime_type or 'this file type'}.",
        {"mime_type": mime_type, "allowed": allowed},
    )


def check_caption(kind: str, caption: str | None) -> None:
    if caption and kind == "audio":
        raise Invalid("caption_not_allowed", "WhatsApp audio messages have no caption.")
    if caption and len(caption) > CAPTION_MAX:
        raise Invalid(
            "caption_too_long",
            f"A caption is at most {CAPTION_MAX} characters; this one has {len(caption)}.",
        )


def safe_filename(name: str | None) -> str | None:
    """A file name as given, without any path and control characters, bounded."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in name if ch.isprintable() and ch not in '"')
    return cleaned.strip()[:FILENAME_MAX] or None


def media_json(media: MediaFile | None) -> dict[str, Any] | None:
    """A message's file as the API shows it (``url`` once its bytes are kept here)."""
    if media is None:
        return None
    return {
        "id": str(media.id),
        "kind": media.kind,
        "mime_type": media.mime_type,
        "size_bytes": media.size_bytes,
        "filename": media.filename,
        "sha256": media.sha256,
        "status": media.status,
        "attempts": media.attempts,
        "next_attempt_at": as_utc(media.next_attempt_at).isoformat()
        if media.next_attempt_at
        else None,
        "error": media.last_error,
        "url": f"/api/media/{media.id}" if media.status == "stored" else None,
    }
