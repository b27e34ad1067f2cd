"""Request/response bodies for auth, agents, teams, roles and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from runtime.api.schemas.base import Body
from runtime.domain.passwords import require_strong_password

AgentStatus = Literal["online", "away", "offline", "disabled"]
Strategy = Literal["round_robin", "least_loaded", "manual"]
# A password being set: the policy refuses it with ``422 weak_password`` (not validation_error).
NewPassword = Annotated[str, Field(max_length=200), AfterValidator(require_strong_password)]
# "cookie" (browsers): the refresh token is set only as an HttpOnly cookie, not in the body.
SessionMode = Literal["token", "cookie"]
Locale = Literal["en", "id"]


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)
    tenant: str | None = Field(default=None, description="Tenant slug, if the e-mail is in several")
    session: SessionMode = "token"


class RefreshIn(Body):
    """The refresh token, unless the ``scrm_refresh`` cookie carries it."""

    refresh_token: str | None = Field(default=None, min_length=1, max_length=200)


class PasswordChangeIn(Body):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: NewPassword
    session: SessionMode = "token"


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str | None = Field(
        default=None, description="Absent in cookie mode: the cookie carries it"
    )
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
    locale: Locale | None = Field(default=None, description="UI language; null: the browser's")


class MeOut(AgentOut):
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    permissions: list[str]


class AgentCreate(Body):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    password: NewPassword
    role_id: uuid.UUID
    status: AgentStatus = "offline"
    team_ids: list[uuid.UUID] = []


class AgentUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    password: NewPassword | None = None
    role_id: uuid.UUID | None = None
    status: AgentStatus | None = None
    team_ids: list[uuid.UUID] | None = None


class StatusIn(Body):
    status: Literal["online", "away", "offline"]


class LocaleIn(Body):
    locale: Locale | None = Field(description="en, id, or null to follow the browser")


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
