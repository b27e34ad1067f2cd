"""Media of messages: what Meta told us about a file, and where its bytes are kept."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, utcnow


class MediaFile(TenantOwned, Base):
    """The file of one image, sticker, audio, video or document message.

    Inbound rows start ``pending`` (the bytes are still at Meta) and a background fetch turns
    them ``stored`` or, after its attempts, ``failed``; ``attempts``, ``next_attempt_at`` and
    ``last_error`` show a fetch that is retrying. Outbound rows are ``stored`` from the start
    (the agent's upload)."""

    __tablename__ = "media_files"
    __table_args__ = (Index("ix_media_files_due", "status", "next_attempt_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("senders.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    kind: Mapped[str] = mapped_column(String(10))  # image | sticker | audio | video | document
    meta_media_id: Mapped[str | None] = mapped_column(String(128))
    mime_type: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(100))  # as Meta gave it (hex or base64)
    size_bytes: Mapped[int | None] = mapped_column()
    filename: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10))  # pending | stored | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    storage_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MediaBlob(Base):
    """A file kept by the database media store (``SCRM_MEDIA_STORE=database``): its type and
    size; the bytes are its :class:`MediaBlobChunk` rows. ``key`` is ``<tenant id>/…``."""

    __tablename__ = "media_blobs"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MediaBlobChunk(Base):
    """One slice (at most ``runtime.media.store.CHUNK_BYTES``) of a blob's bytes, in order."""

    __tablename__ = "media_blob_chunks"

    key: Mapped[str] = mapped_column(
        String(200), ForeignKey("media_blobs.key", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
