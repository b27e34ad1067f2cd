"""Marketing consent history, a tenant's outreach policy, its do-not-contact list, and the
template sends the marketing cap counts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from runtime.db.base import Base, TenantOwned, Timestamped
from runtime.models.contacts import Contact
from runtime.models.inbox import Message


class ConsentChange(TenantOwned, Base):
    """One change of a contact's marketing consent (append-only); the contact row holds the
    current state."""

    __tablename__ = "consent_changes"
    __table_args__ = (Index("ix_consent_changes_contact_created", "contact_id", "created_at"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    state: Mapped[str] = mapped_column(String(12))  # opted_in | opted_out | unknown
    # keyword | quick_reply | api | import | meta_131050 | agent
    source: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(200), default="")  # keyword, payload, wamid, note
    actor_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # When the customer (or agent) expressed it, e.g. the keyword message's timestamp.
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when recorded
    # Never loaded; it tells the unit of work to insert a new contact first.
    contact: Mapped[Contact] = relationship(lazy="raise")


class OutreachPolicy(Timestamped, Base):
    """A tenant's consent keywords and eligibility rules (no row: the defaults)."""

    __tablename__ = "outreach_policies"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    opt_out_keywords: Mapped[list[str]] = mapped_column(JSON)
    opt_in_keywords: Mapped[list[str]] = mapped_column(JSON)
    opt_out_payloads: Mapped[list[str]] = mapped_column(JSON)
    marketing_limit_count: Mapped[int | None] = mapped_column()
    marketing_limit_days: Mapped[int | None] = mapped_column()
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", local time
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    default_time_zone: Mapped[str] = mapped_column(String(64))


class DoNotContact(TenantOwned, Base):
    """A phone number the tenant never sends templates to."""

    __tablename__ = "do_not_contact"
    __table_args__ = (UniqueConstraint("tenant_id", "phone"),)

    phone: Mapped[str] = mapped_column(String(20))  # E.164
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(10))  # api | import
    actor_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutreachSend(TenantOwned, Base):
    """A template stored for sending to a contact, with its category: what the marketing
    cap counts."""

    __tablename__ = "outreach_sends"
    __table_args__ = (
        Index("ix_outreach_sends_contact_category_sent", "contact_id", "category", "sent_at"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    category: Mapped[str] = mapped_column(String(20))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Never loaded; they tell the unit of work to insert the contact and message first.
    contact: Mapped[Contact] = relationship(lazy="raise")
    message: Mapped[Message] = relationship(lazy="raise")
