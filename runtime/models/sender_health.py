"""Sender health alerts, the tenant's signed alert webhook, and failover switches."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, Timestamped


class SenderAlert(TenantOwned, Base):
    """A sender turned worse (quality, flag, restriction, token, payment) or changed tier.

    ``delivery`` tracks the tenant's outbound webhook for this alert: ``none`` (no webhook
    set), ``pending`` (due at ``deliver_after``), ``delivered`` or ``failed`` (gave up)."""

    __tablename__ = "sender_alerts"
    __table_args__ = (
        Index("ix_sender_alerts_tenant_created", "tenant_id", "created_at"),
        Index("ix_sender_alerts_delivery", "delivery", "deliver_after"),
    )

    sender_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("senders.id", ondelete="CASCADE"), index=True
    )
    # quality | flagged | restricted | tier | token_invalid | payment_issue
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(40))  # the new value: RED, TIER_2K, 190, …
    previous: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10))  # webhook | poll | send
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery: Mapped[str] = mapped_column(String(10), default="none")
    delivery_attempts: Mapped[int] = mapped_column(default=0)
    deliver_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_error: Mapped[str | None] = mapped_column(String(500))


class AlertWebhook(Timestamped, Base):
    """Where a tenant wants its sender alerts POSTed, signed with its secret (encrypted)."""

    __tablename__ = "alert_webhooks"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret_encrypted: Mapped[str] = mapped_column(String(2000))


class SenderSwitch(TenantOwned, Base):
    """A new-outreach send moved off an unhealthy sender to the next healthy one."""

    __tablename__ = "sender_switches"
    __table_args__ = (
        Index("ix_sender_switches_from", "from_conversation_id", "created_at"),
        Index("ix_sender_switches_to", "to_conversation_id", "created_at"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    from_conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    to_conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    from_sender_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("senders.id", ondelete="CASCADE")
    )
    to_sender_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("senders.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String(40))  # why the first was skipped: RED, …
    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
