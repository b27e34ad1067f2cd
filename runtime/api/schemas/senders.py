"""Request/response bodies for senders and their allocation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.api.schemas.base import Body
from runtime.domain.field_messages import FieldRule
from runtime.domain.secret_refs import SECRET_REF_MAX_LENGTH, SECRET_REF_PATTERN

Quality = Literal["GREEN", "YELLOW", "RED", "UNKNOWN"]
SenderStatus = Literal["active", "paused", "restricted", "withdrawn"]
DIGITS = r"^[0-9]{1,32}$"


class SenderCreate(Body):
    phone_number_id: str = Field(pattern=DIGITS)
    display_number: str = Field(min_length=3, max_length=32)
    waba_id: str = Field(pattern=DIGITS)
    verified_name: str = Field(default="", max_length=200)
    access_token: str | None = Field(default=None, min_length=10, max_length=1000)
    access_token_secret_ref: str | None = Field(
        default=None,
        max_length=SECRET_REF_MAX_LENGTH,
        pattern=SECRET_REF_PATTERN,
        description="Kubernetes Secret 'name/key' holding the token",
    )
    quality_rating: Quality = "UNKNOWN"
    messaging_limit_tier: str = Field(default="TIER_250", max_length=20)
    throughput_mps: int = Field(default=80, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_token_source(self) -> SenderCreate:
        if (self.access_token is None) == (self.access_token_secret_ref is None):
            raise FieldRule(
                "one_token_source", "give exactly one of access_token or access_token_secret_ref"
            )
        return self


class SenderUpdate(Body):
    display_number: str | None = Field(default=None, min_length=3, max_length=32)
    verified_name: str | None = Field(default=None, max_length=200)
    access_token: str | None = Field(default=None, min_length=10, max_length=1000)
    quality_rating: Quality | None = None
    messaging_limit_tier: str | None = Field(default=None, max_length=20)
    throughput_mps: int | None = Field(default=None, ge=1, le=1000)
    status: Literal["active", "paused"] | None = None
    health: Literal["ok"] | None = Field(
        default=None, description="Clear a health mark once the problem is solved at Meta"
    )


class SenderOut(BaseModel):
    """A sender as the API shows it: the access token itself never leaves the server."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    phone_number_id: str
    display_number: str
    waba_id: str
    verified_name: str
    quality_rating: Quality
    messaging_limit_tier: str
    throughput_mps: int
    status: SenderStatus
    access_token_source: Literal["encrypted", "secret_ref"]
    account_update: dict[str, Any] | None = Field(
        description="Meta's last account_update for the WABA (event, restrictions, …)"
    )
    templates_sync_requested_at: datetime | None = Field(
        description="Set when a webhook named a template not mirrored yet; sync clears it"
    )
    health: Literal["ok", "token_invalid", "restricted", "payment_issue"] = Field(
        description="What Meta's refusals or account webhooks said is wrong (docs/sender-health.md)"
    )
    health_reason: str | None
    health_changed_at: datetime | None
    number_status: str | None = Field(description="Meta's phone-number status (CONNECTED, …)")
    name_status: str | None
    throughput_level: str | None
    health_polled_at: datetime | None
    created_at: datetime


class AllocationIn(Body):
    primary: uuid.UUID | None = None
    secondaries: list[uuid.UUID] = Field(default=[], max_length=20)


class AllocationOut(BaseModel):
    holder_type: Literal["team", "agent"]
    holder_id: uuid.UUID
    primary: uuid.UUID | None
    secondaries: list[uuid.UUID]


class RouteOut(BaseModel):
    sender: SenderOut
    reason: str
