"""Saved audiences, campaigns, their per-recipient rows, and each number's warm-up ramp."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, Timestamped


class Audience(TenantOwned, Timestamped, Base):
    """A saved segment: a filter over the tenant's contacts, evaluated in SQL when used
    (runtime/domain/audiences.py)."""

    __tablename__ = "audiences"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Campaign(TenantOwned, Timestamped, Base):
    """A template sent to an audience at a pace, inside a send window (docs/campaigns.md).

    ``status``: draft → scheduled → running → paused / completed / cancelled. The audience is
    expanded into ``campaign_recipients`` when the campaign starts (``expanded_at``); the
    feeder then hands due recipients to the send queue, ``next_slot_at`` (Unix seconds) being
    the campaign's own rate-cap slot (GCRA, like runtime/outbound/limits)."""

    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    audience_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("audiences.id", ondelete="RESTRICT"), index=True
    )
    template_name: Mapped[str] = mapped_column(String(512))
    template_language: Mapped[str] = mapped_column(String(15))
    # {"body": [{"field": "name", "fallback": "there"}, {"text": "literal"}], "header": [...]}
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sender_mode: Mapped[str] = mapped_column(String(10))  # named | allocated
    sender_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # {"start": "09:00", "end": "20:00", "weekdays": [1..7]} in the contact's zone; or None
    send_window: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rate_per_minute: Mapped[int] = mapped_column()
    frequency_cap_count: Mapped[int | None] = mapped_column()
    frequency_cap_days: Mapped[int | None] = mapped_column()
    failure_threshold: Mapped[float] = mapped_column(Float, default=0.2)
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    next_slot_at: Mapped[float] = mapped_column(Float, default=0.0)
    expanded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)


class CampaignRecipient(Base):
    """One contact of a campaign: exactly one row per (campaign, contact), so a restart can
    never send twice. ``pending`` rows wait until ``not_before``; ``queued`` names the
    message handed to the send queue (its status tells sent/delivered/read/failed);
    ``skipped`` names the rule that stopped it."""

    __tablename__ = "campaign_recipients"
    # A launch inserts a row per contact of the audience (100,000 at once): every foreign
    # key and index costs a trigger or an index insertion per row, so only the campaign and
    # the contact are foreign keys (their deletion takes the rows along), and the indexes
    # over columns still NULL at launch are partial (docs/campaigns.md, "Launch").
    __table_args__ = (
        Index("ix_campaign_recipients_due", "campaign_id", "state", "not_before", "contact_id"),
        Index(
            "ix_campaign_recipients_contact_queued",
            "contact_id",
            "queued_at",
            postgresql_where=text("queued_at IS NOT NULL"),
            sqlite_where=text("queued_at IS NOT NULL"),
        ),
        Index(
            "ix_campaign_recipients_sender_queued",
            "sender_id",
            "queued_at",
            postgresql_where=text("queued_at IS NOT NULL"),
            sqlite_where=text("queued_at IS NOT NULL"),
        ),
        Index(
            "ix_campaign_recipients_message_id",
            "message_id",
            postgresql_where=text("message_id IS NOT NULL"),
            sqlite_where=text("message_id IS NOT NULL"),
        ),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the campaign's
    sender_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a number gone: skipped
    state: Mapped[str] = mapped_column(String(10))  # pending | queued | skipped
    skip_rule: Mapped[str | None] = mapped_column(String(60))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SenderWarmup(TenantOwned, Base):
    """A number's warm-up ramp: ``budget`` unique campaign recipients on ``budget_day``
    (UTC); the next day it doubles while quality is GREEN, holds on YELLOW, stops on RED."""

    __tablename__ = "sender_warmups"

    sender_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("senders.id", ondelete="CASCADE"), unique=True
    )
    day_one_budget: Mapped[int] = mapped_column()
    budget: Mapped[int] = mapped_column()
    budget_day: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10))  # ramping | holding | stopped
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
