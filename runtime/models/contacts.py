"""Customers, their assignment (the case pool) and its history, and import jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, TenantOwned, Timestamped


class Contact(TenantOwned, Timestamped, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "phone"),
        UniqueConstraint("tenant_id", "wa_user_id"),
    )

    phone: Mapped[str | None] = mapped_column(String(20))  # E.164; None until Meta tells it
    wa_user_id: Mapped[str | None] = mapped_column(String(128))  # Meta's business-scoped id
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    assigned_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    assigned_team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    # Marketing consent now (history: ConsentChange): opted_in | opted_out | unknown.
    consent_state: Mapped[str] = mapped_column(
        String(12), default="unknown", server_default="unknown"
    )
    consent_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA name, if known
    # The last import job that created or changed it (audiences: "imported in job X").
    import_job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)


class AssignmentEvent(TenantOwned, Base):
    """One change of a contact's owner: who did it, when, from whom to whom."""

    __tablename__ = "assignment_events"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    actor_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    from_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    to_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    from_team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    to_team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImportJob(TenantOwned, Timestamped, Base):
    __tablename__ = "import_jobs"

    source: Mapped[str] = mapped_column(String(10))  # csv | json
    status: Mapped[str] = mapped_column(String(20))  # completed | failed
    total_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    fatal_error: Mapped[str | None] = mapped_column(String(500))
    actor_agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
