"""Conversations with customers, their messages, and the WABA's message templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, Timestamped


class Template(TenantOwned, Timestamped, Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("tenant_id", "waba_id", "name", "language"),)

    waba_id: Mapped[str] = mapped_column(String(32))
    meta_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(15))
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20), default="")
    quality_score: Mapped[str | None] = mapped_column(String(20))
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Conversation(TenantOwned, Timestamped, Base):
    """All messages between one sender number and one contact."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("sender_id", "contact_id"),
        Index("ix_conversations_tenant_last", "tenant_id", "last_message_at"),
    )

    sender_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("senders.id", ondelete="RESTRICT")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default="open")
    assigned_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    assigned_team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    unread_count: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_seq: Mapped[int] = mapped_column(default=0)  # the last conversation_seq given
    # The Click-to-WhatsApp ad (Meta's ``referral``) the customer's last such message came from.
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When Meta was last asked to show "typing…" to the customer (throttles the indicator).
    typing_indicated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(TenantOwned, Base):
    """One message; ``conversation_seq`` is its place in the conversation (arrival order)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "conversation_seq"),
        Index("ux_messages_idempotency_key", "tenant_id", "idempotency_key", unique=True),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    conversation_seq: Mapped[int] = mapped_column()
    wamid: Mapped[str | None] = mapped_column(String(200), unique=True)
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    type: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10))
    error_code: Mapped[int | None] = mapped_column()
    error_message: Mapped[str | None] = mapped_column(String(500))
    sent_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When Meta said sent / delivered / read (a later status stamps the earlier ones it
    # implies, if they never came): the campaign results' timeline.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Meta's, from statuses; SQL NULL until then (also when inserted set-wise with None)
    pricing: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # An ``unknown`` outcome still unresolved after the configured wait: "not confirmed".
    not_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A deliberate resend names the message it repeats.
    resend_of_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Reactions to this message, by side: {"customer": "👍", "business": "❤️"} (absent: none).
    # {"customer"?, "business"?: emoji, "refused"?: {…}} (runtime/domain/reactions.py)
    reactions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set by a sender that must store a message at most once (a campaign: one per campaign
    # and contact); a second submit with the key stores nothing (runtime/outbound/batch.py).
    idempotency_key: Mapped[str | None] = mapped_column(String(120))
