"""Bodies of the internal (operator → api) endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from runtime.api.schemas.base import Body
from runtime.api.schemas.senders import DIGITS, Quality
from runtime.domain.field_messages import FieldRule
from runtime.domain.secret_refs import SECRET_REF_MAX_LENGTH, SECRET_REF_PATTERN


class TeamAllocationIn(Body):
    team: str = Field(min_length=1, max_length=100, description="Team name")
    role: Literal["primary", "secondary"]


class SenderPublication(Body):
    """A ``Sender`` custom resource, validated against the Graph API by the operator."""

    tenant_slug: str = Field(min_length=1, max_length=63)
    display_number: str = Field(min_length=3, max_length=32)
    waba_id: str = Field(pattern=DIGITS)
    verified_name: str = Field(default="", max_length=200)
    quality_rating: Quality | Literal["NA"] = "UNKNOWN"
    messaging_limit_tier: str = Field(default="TIER_250", max_length=20)
    access_token: str | None = Field(default=None, min_length=10, max_length=1000)
    access_token_secret_ref: str | None = Field(
        default=None, max_length=SECRET_REF_MAX_LENGTH, pattern=SECRET_REF_PATTERN
    )
    status: Literal["active", "paused"] = "active"
    allocations: list[TeamAllocationIn] = Field(default=[], max_length=50)

    @model_validator(mode="after")
    def _token_source(self) -> SenderPublication:
        if self.access_token is None and self.access_token_secret_ref is None:
            raise FieldRule("token_source_required", "give access_token or access_token_secret_ref")
        return self


class PublicationOut(BaseModel):
    sender_id: str
    created: bool
    unknown_teams: list[str]
