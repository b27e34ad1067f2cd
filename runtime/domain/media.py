"""Media messages: Meta's type and size limits (runtime/whatsapp/media.py) as the API's
errors, and how a message's file is shown. The same rules refuse an agent's upload before
anything reaches Meta and an inbound file before its bytes are kept."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc
from runtime.domain.errors import Conflict, Invalid, PayloadTooLarge
from runtime.models import MediaFile, Message
from runtime.whatsapp.media import (
    ALL_TYPES,
    CAPTION_MAX,
    MEDIA_KINDS,
    RULES,
    SENDABLE_KINDS,
    base_mime,
    max_bytes,
)

if TYPE_CHECKING:
    from runtime.media.store import MediaStore

FILENAME_MAX = 240


@dataclass(frozen=True)
class MediaOut:
    """A file already kept in the media store (:func:`accept_upload`), sent as ``kind``
    with an optional caption; the send worker uploads it to Meta right before sending."""

    kind: str
    storage_key: str
    mime_type: str
    size_bytes: int
    sha256: str
    filename: str | None = None
    caption: str | None = None


# Shown in the page (inline); everything else is served only as a download.
INLINE_TYPES = frozenset().union(
    *(RULES[kind].mime_types for kind in ("image", "sticker", "audio", "video"))
)


def check(kind: str, mime_type: str, size: int | None, *, inbound: bool = False) -> None:
    """Refuse a file Meta would refuse: 422 ``unsupported_media_type`` for its type, 413
    ``media_too_large`` for its size (``size`` None: not known yet). A customer's document
    may be of any type (WhatsApp users send archives too): it is only ever served as an
    attachment."""
    rule = RULES[kind]
    any_type = inbound and kind == "document"
    if not any_type and base_mime(mime_type) not in rule.mime_types:
        raise Invalid(
            "unsupported_media_type",
            f"WhatsApp does not accept {mime_type or 'this file type'} as {kind}; "
            f"allowed: {', '.join(sorted(rule.mime_types))}.",
            {"kind": kind, "mime_type": mime_type, "allowed": sorted(rule.mime_types)},
        )
    limit = max_bytes(kind)
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
        "next_attempt_at": _iso(media.next_attempt_at),
        "error": media.last_error,
        "url": f"/api/media/{media.id}" if media.status == "stored" else None,
    }


def inbound_file(
    message: dict[str, Any],
    tenant_id: uuid.UUID,
    sender_id: uuid.UUID,
    message_id: uuid.UUID,
    now: datetime,
) -> MediaFile | None:
    """The file of an inbound media message (``pending``: the fetch is due at once), or None
    when the message carries none. Every column is set: rounds insert it with Core."""
    kind = message.get("type")
    content = message.get(kind) if isinstance(kind, str) and kind in MEDIA_KINDS else None
    if not isinstance(content, dict) or not isinstance(content.get("id"), str | int):
        return None
    return MediaFile(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        message_id=message_id,
        sender_id=sender_id,
        direction="inbound",
        kind=kind,
        meta_media_id=str(content["id"])[:128],
        mime_type=str(content.get("mime_type") or "")[:255],
        sha256=_text(content.get("sha256"), 100),
        size_bytes=None,
        filename=safe_filename(_text(content.get("filename"), 1000)),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_error=None,
        storage_key=None,
        created_at=now,
        stored_at=None,
    )


async def files_of(session: AsyncSession, messages: list[Message]) -> dict[uuid.UUID, MediaFile]:
    """The files of those of ``messages`` that have one, by message id (one query)."""
    ids = [m.id for m in messages if m.type in MEDIA_KINDS]
    if not ids:
        return {}
    found = await session.scalars(select(MediaFile).where(MediaFile.message_id.in_(ids)))
    return {f.message_id: f for f in found}


def file_row(media: MediaFile) -> dict[str, Any]:
    return {column.key: getattr(media, column.key) for column in _COLUMNS}


_COLUMNS = list(MediaFile.__mapper__.column_attrs)


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if isinstance(value, str) and value else None


async def accept_upload(
    store: MediaStore,
    tenant_id: uuid.UUID,
    data: bytes,
    mime_type: str,
    filename: str | None,
    caption: str | None,
    requested_kind: str | None,
) -> MediaOut:
    """Check an agent's file against Meta's rules and keep it: the file to send."""
    kind = kind_for_upload(mime_type, requested_kind)
    check(kind, mime_type, len(data))
    check_caption(kind, caption)
    if not data:
        raise Invalid("empty_file", "The file is empty.")
    key = f"{tenant_id}/out-{uuid.uuid4()}"
    await store.put(key, data, base_mime(mime_type))
    return MediaOut(
        kind=kind,
        storage_key=key,
        mime_type=base_mime(mime_type),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        filename=safe_filename(filename) if kind == "document" else None,
        caption=caption or None,
    )


def payload_of(out: MediaOut) -> dict[str, Any]:
    """The message's payload: what Meta is sent, less the id only the upload gives."""
    content = {"mime_type": out.mime_type}
    content |= {k: v for k, v in (("caption", out.caption), ("filename", out.filename)) if v}
    return {"type": out.kind, out.kind: content}


def call_of(out: MediaOut) -> dict[str, Any]:
    """The send-queue request: the worker uploads ``storage_key`` and sends it by id."""
    return {
        "kind": "media",
        "type": out.kind,
        "storage_key": out.storage_key,
        "mime_type": out.mime_type,
        "filename": out.filename,
        "caption": out.caption,
    }


def outbound_file(
    out: MediaOut, message: Message, sender_id: uuid.UUID, now: datetime
) -> MediaFile:
    return MediaFile(
        id=uuid.uuid4(),
        tenant_id=message.tenant_id,
        message_id=message.id,
        sender_id=sender_id,
        direction="outbound",
        kind=out.kind,
        meta_media_id=None,
        mime_type=out.mime_type,
        sha256=out.sha256,
        size_bytes=out.size_bytes,
        filename=out.filename,
        status="stored",
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        storage_key=out.storage_key,
        created_at=now,
        stored_at=now,
    )


def outgoing_of(file: MediaFile, caption: str | None) -> MediaOut:
    """The same file again (a resend): the bytes kept are sent anew."""
    if file.status != "stored" or file.storage_key is None:
        raise Invalid("media_not_stored", "This message's file is not kept here.")
    return MediaOut(
        kind=file.kind,
        storage_key=file.storage_key,
        mime_type=file.mime_type,
        size_bytes=file.size_bytes or 0,
        sha256=file.sha256 or "",
        filename=file.filename,
        caption=caption,
    )


def serving_headers(file: MediaFile) -> dict[str, str]:
    """How a file is served: its own type only for what the page shows inline (images,
    stickers, audio, video); anything else is an attachment, never rendered or sniffed."""
    mime = base_mime(file.mime_type)
    inline = mime in INLINE_TYPES
    name = file.filename or f"{file.kind}-{file.id}"
    return {
        "Content-Type": mime if mime in ALL_TYPES else "application/octet-stream",
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
        f"filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, max-age=3600",
    }


def retry_fetch(file: MediaFile, now: datetime) -> None:
    """A failed inbound fetch, due again with fresh attempts."""
    if file.direction != "inbound" or file.status != "failed":
        raise Conflict(
            "media_not_failed",
            f"Only a failed fetch can be retried; this file is {file.status}.",
            {"status": file.status},
        )
    file.status, file.attempts, file.next_attempt_at = "pending", 0, now


def _ascii(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None
