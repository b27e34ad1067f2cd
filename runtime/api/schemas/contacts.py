"""Request/response bodies for contacts, imports and the case pool."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.api.schemas.base import Body
from runtime.domain.contact_fields import AttrValue
from runtime.domain.field_messages import FieldRule


class ContactCreate(Body):
    phone: str = Field(min_length=1, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    attributes: dict[str, AttrValue] = {}
    tags: list[str] = []
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA name, e.g. Asia/Makassar"
    )


class ContactUpdate(Body):
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    attributes: dict[str, AttrValue] | None = None
    tags: list[str] | None = None
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA name; null: the tenant's default"
    )


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    phone: str | None = Field(description="E.164; null while only the user id is known")
    wa_user_id: str | None = Field(description="Meta's business-scoped user id, if known")
    name: str
    email: str | None
    attributes: dict[str, Any]
    tags: list[str]
    assigned_agent_id: uuid.UUID | None
    assigned_team_id: uuid.UUID | None
    consent_state: str = Field(description="Marketing consent: opted_in, opted_out or unknown")
    time_zone: str | None
    created_at: datetime
    updated_at: datetime


class BulkImportIn(Body):
    contacts: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


class ImportJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    status: str
    total_rows: int
    created_count: int
    updated_count: int
    error_count: int
    errors: list[dict[str, Any]]
    fatal_error: str | None
    created_at: datetime


class AssignIn(Body):
    agent_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignIn:
        if self.agent_id is None and self.team_id is None:
            raise FieldRule("assignee_required", "give agent_id, team_id or both")
        return self


class BulkAssignIn(AssignIn):
    contact_ids: list[uuid.UUID] = Field(min_length=1, max_length=5000)


class AssignmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    action: str
    actor_agent_id: uuid.UUID | None
    from_agent_id: uuid.UUID | None
    to_agent_id: uuid.UUID | None
    from_team_id: uuid.UUID | None
    to_team_id: uuid.UUID | None
    created_at: datetime
