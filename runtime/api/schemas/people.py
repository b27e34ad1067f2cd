"""Request/response bodies for auth, agents, teams, roles and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from runtime.api.schemas.base import Body

AgentStatus = Literal["online", "away", "offline", "disabled"]
Strategy = Literal["round_robin", "least_loaded", "manual"]


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)
    tenant: str | None = Field(default=None, description="Tenant slug, if the e-mail is in several")


class RefreshIn(Body):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class AgentOut(ORM):
    id: uuid.UUID
    email: str
    name: str
    role_id: uuid.UUID
    status: AgentStatus
    team_ids: list[uuid.UUID] = []
    created_at: datetime


class MeOut(AgentOut):
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    permissions: list[str]


class AgentCreate(Body):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=200)
    role_id: uuid.UUID
    status: AgentStatus = "offline"
    team_ids: list[uuid.UUID] = []


class AgentUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=200)
    role_id: uuid.UUID | None = None
    status: AgentStatus | None = None
    team_ids: list[uuid.UUID] | None = None


class StatusIn(Body):
    status: Literal["online", "away", "offline"]


class TeamCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    assignment_strategy: Strategy = "round_robin"
    member_ids: list[uuid.UUID] = []


class TeamUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    assignment_strategy: Strategy | None = None


class MembersIn(Body):
    agent_ids: list[uuid.UUID] = Field(max_length=1000)


class TeamOut(ORM):
    id: uuid.UUID
    name: str
    description: str
    assignment_strategy: Strategy
    member_ids: list[uuid.UUID] = []
    created_at: datetime


class RoleCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    permissions: list[str] = Field(default=[], max_length=200)


class RoleUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    permissions: list[str] | None = Field(default=None, max_length=200)


class RoleOut(ORM):
    id: uuid.UUID
    name: str
    description: str
    permissions: list[str]
    builtin: bool
    created_at: datetime


class PermissionOut(BaseModel):
    name: str
    description: str


class AuditOut(ORM):
    id: uuid.UUID
    actor_agent_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]
    created_at: datetime
