"""Request/response bodies for marketing consent, outreach rules and the do-not-contact list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from runtime.api.schemas.base import Body
from runtime.domain.consent import MAX_KEYWORD_CHARS, normal_keyword
from runtime.domain.contact_fields import FieldError, clean_time_zone
from runtime.domain.do_not_contact import MAX_REASON_CHARS
from runtime.domain.field_messages import FieldRule

Keyword = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_KEYWORD_CHARS)
]
Payload = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Clock = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class ConsentChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: str
    source: str = Field(
        description="keyword, quick_reply, api, import, meta_131050 (Meta: the user stopped "
        "marketing messages) or agent"
    )
    detail: str = Field(description="The keyword, button payload, message id or note")
    actor_agent_id: uuid.UUID | None
    effective_at: datetime = Field(description="When the customer or agent expressed it")
    created_at: datetime = Field(description="When it was recorded")


class ContactConsentOut(BaseModel):
    contact_id: uuid.UUID
    state: str = Field(description="opted_in, opted_out or unknown")
    updated_at: datetime | None
    do_not_contact: bool = Field(description="The contact's phone is on the do-not-contact list")
    time_zone: str | None = Field(description="The contact's own; null: the tenant default")
    history: list[ConsentChangeOut] = Field(description="Newest first, at most 500")


class ConsentIn(Body):
    state: Literal["opted_in", "opted_out"]
    source: Literal["api", "agent"] = Field(
        default="api", description="agent: an agent recorded what the customer said"
    )
    note: str = Field(default="", max_length=200)


def _distinct(values: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(normal_keyword(value), value)
    return list(seen.values())


class MarketingLimit(BaseModel):
    count: int = Field(ge=1, le=1000, description="At most this many marketing templates …")
    days: int = Field(ge=1, le=365, description="… per contact in any window of this many days")


class QuietHours(BaseModel):
    start: Clock = Field(description="Local wall-clock HH:MM the quiet hours begin")
    end: Clock = Field(description="HH:MM they end (before start: they span midnight)")

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: str, info: Any) -> str:
        if end == info.data.get("start"):
            raise FieldRule("quiet_hours_empty", "start and end must differ")
        return end


class PolicyIn(Body):
    """Fields left out keep their value; ``null`` turns a rule off."""

    opt_out_keywords: list[Keyword] | None = Field(default=None, min_length=1, max_length=50)
    opt_in_keywords: list[Keyword] | None = Field(default=None, max_length=50)
    opt_out_payloads: list[Payload] | None = Field(default=None, max_length=50)
    marketing_limit: MarketingLimit | None = None
    quiet_hours: QuietHours | None = None
    default_time_zone: str | None = Field(default=None, max_length=64)

    @field_validator("opt_out_keywords", "opt_in_keywords", "opt_out_payloads")
    @classmethod
    def _dedupe(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _distinct(values)

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        try:
            return clean_time_zone(value)
        except FieldError as err:
            raise FieldRule(err.code, err.message) from err


class PolicyOut(BaseModel):
    opt_out_keywords: list[str]
    opt_in_keywords: list[str]
    opt_out_payloads: list[str]
    marketing_limit: MarketingLimit | None
    quiet_hours: QuietHours | None
    default_time_zone: str
    updated_at: datetime | None


class DoNotContactIn(Body):
    phone: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)


class DoNotContactBulkIn(Body):
    phones: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        min_length=1, max_length=10_000
    )
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)


class DoNotContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    phone: str
    reason: str
    source: str
    actor_agent_id: uuid.UUID | None
    created_at: datetime


class DoNotContactImportOut(BaseModel):
    total_rows: int
    added: int
    already_listed: int
    error_count: int
    errors: list[dict[str, Any]] = Field(description="First 1,000: line, field, code, message")
