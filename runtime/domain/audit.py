"""Audit log of admin actions, written in the same transaction as the change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import utcnow
from runtime.models import AuditEntry


def audit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor_agent_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            actor_agent_id=actor_agent_id,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id is not None else None,
            details=details or {},
            created_at=utcnow(),
        )
    )
