"""Raw webhook bodies, stored before they are acknowledged and applied later in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base


class InboundWebhook(Base):
    """One signed webhook body as Meta sent it. ``processed_at`` empty: still to apply.
    Applied: ``processed_at`` set and ``last_error`` empty. Set aside (it kept failing):
    ``processed_at`` and ``last_error`` both set."""

    __tablename__ = "inbound_webhooks"
    __table_args__ = (
        Index(
            "ix_inbound_webhooks_pending",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))


class ConfigEpoch(Base):
    """One row whose ``value`` grows whenever configuration the inbound processor caches
    across rounds changes (senders' numbers and tenants, tenants' regions, sender
    allocations to teams, team names, outreach keywords): bumped by database triggers
    (migration 0015), so every writer, in any process, invalidates the caches."""

    __tablename__ = "config_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
