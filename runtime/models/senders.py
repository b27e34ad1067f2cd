"""WhatsApp business numbers of a tenant and their allocation to teams and agents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, Timestamped


class Sender(TenantOwned, Timestamped, Base):
    __tablename__ = "senders"

    phone_number_id: Mapped[str] = mapped_column(String(32), unique=True)
    display_number: Mapped[str] = mapped_column(String(32))
    waba_id: Mapped[str] = mapped_column(String(32), index=True)
    verified_name: Mapped[str] = mapped_column(String(200), default="")
    # Exactly one of: Fernet-encrypted token, or a reference "secret-name/key" resolved at use.
    access_token_encrypted: Mapped[str | None] = mapped_column(String(2000))
    access_token_secret_ref: Mapped[str | None] = mapped_column(String(300))
    quality_rating: Mapped[str] = mapped_column(String(10), default="UNKNOWN")
    messaging_limit_tier: Mapped[str] = mapped_column(String(20), default="TIER_250")
    throughput_mps: Mapped[int] = mapped_column(default=80)
    status: Mapped[str] = mapped_column(String(20), default="active")
    # Meta's last ``account_update`` for the WABA (event, restriction/violation info)
    account_update: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set when a webhook names a template the mirror lacks; the next template sync clears it
    templates_sync_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Sender health (runtime/domain/sender_health.py): ``ok`` or what a send error or webhook
    # said is wrong (token_invalid | restricted | payment_issue), why, and since when.
    health: Mapped[str] = mapped_column(String(20), default="ok")
    health_reason: Mapped[str | None] = mapped_column(String(500))
    health_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Meta's own view from the Graph phone-number fields: ``status`` (CONNECTED, FLAGGED,
    # RESTRICTED, …), ``name_status``, ``throughput.level``; when last polled, and a poll
    # asked for now (after a send error).
    number_status: Mapped[str | None] = mapped_column(String(30))
    name_status: Mapped[str | None] = mapped_column(String(40))
    throughput_level: Mapped[str | None] = mapped_column(String(20))
    health_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    poll_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def access_token_source(self) -> str:
        return "encrypted" if self.access_token_encrypted else "secret_ref"


class SenderAllocation(TenantOwned, Base):
    """A sender given to a team or an agent, as its primary or as its n-th secondary."""

    __tablename__ = "sender_allocations"
    __table_args__ = (
        CheckConstraint("(team_id IS NULL) <> (agent_id IS NULL)", name="exactly_one_holder"),
        UniqueConstraint("sender_id", "team_id", "agent_id"),
    )

    sender_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("senders.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # primary | secondary
    position: Mapped[int] = mapped_column(default=0)  # 0 for primary, 1.. for secondaries
