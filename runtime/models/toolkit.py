"""The agent toolkit: canned responses and conversation labels (notes are messages whose
``direction`` is ``note``; see runtime/domain/notes.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, Timestamped

TENANT_SCOPE = "tenant"


class CannedResponse(TenantOwned, Timestamped, Base):
    """A reply typed as ``/shortcut``: tenant-wide (``owner_agent_id`` empty) or one agent's.

    ``scope`` is ``tenant`` or the owner's id as text, so a shortcut is unique per scope with
    a plain unique constraint (NULLs are distinct on PostgreSQL)."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "shortcut"),)

    scope: Mapped[str] = mapped_column(String(36))
    owner_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    shortcut: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)


class Label(TenantOwned, Timestamped, Base):
    """A label of the tenant's catalogue, put on conversations."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(50))
    colour: Mapped[str] = mapped_column(String(7))  # #rrggbb


class ConversationLabel(Base):
    __tablename__ = "conversation_labels"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
