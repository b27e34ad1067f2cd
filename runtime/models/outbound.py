"""The durable send queue and the send limits every replica shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base


class SendQueueItem(Base):
    """One outbound message waiting to be handed to Meta (or being handed right now).

    ``queued`` rows wait until ``not_before``; a worker turns a row ``sending`` (with a fresh
    ``attempt_id``) and commits *before* calling Meta, so a ``sending`` row found later by
    recovery means "maybe sent": its message becomes ``unknown``, never sent again. The row
    is deleted once the outcome is recorded on the message."""

    __tablename__ = "send_queue"
    __table_args__ = (Index("ix_send_queue_due", "state", "sender_id", "not_before"),)

    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("senders.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(32))  # E.164 with "+"
    # The Graph call: {"kind": "text", "body": ...} or {"kind": "template", "name", ...}
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Business-initiated (no open window when queued): counts against the daily budget.
    business_initiated: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(10), default="queued")  # queued | sending
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    wait_reason: Mapped[str | None] = mapped_column(String(40))
    deferrals: Mapped[int] = mapped_column(default=0)  # backoffs so far (exponent)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SendPacing(Base):
    """Shared pacing state of one limit: a number (``n:<sender>``), a pair
    (``p:<sender>:<recipient>``) or a portfolio budget lock (``b:<waba>``).

    ``next_at`` is the GCRA "theoretical arrival time" in Unix seconds: the limit lets a
    send go at ``now`` when ``next_at <= now + tolerance``; each send pushes it by
    ``1 / rate``. ``backoff_until`` holds the limit closed after Meta said 130429/131056/80007."""

    __tablename__ = "send_pacing"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)
    backoff_until: Mapped[float] = mapped_column(Float, default=0.0)


class RecipientBudget(Base):
    """The last business-initiated send to a recipient per portfolio (WABA): the recipients
    with ``sent_at`` in the last 24 h are what Meta's daily messaging limit counts."""

    __tablename__ = "recipient_budget"

    portfolio: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(32), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
