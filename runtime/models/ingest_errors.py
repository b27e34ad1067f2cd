"""Webhook items that could not be applied, kept for the tenant's admins to read."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, UUIDPk


class IngestError(UUIDPk, Base):
    """One refused message, status or change; the rest of its delivery was applied.

    ``tenant_id`` is None when nothing in the item names a known sender or WABA."""

    __tablename__ = "ingest_errors"
    __table_args__ = (Index("ix_ingest_errors_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE")
    )
    field: Mapped[str] = mapped_column(String(64))  # messages | statuses | entry | <change field>
    item_id: Mapped[str | None] = mapped_column(String(200))  # the wamid, template id, …
    code: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(String(500))
    excerpt: Mapped[str] = mapped_column(String(1000))  # the item's JSON, cut
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
