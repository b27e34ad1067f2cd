"""Request/response bodies for audiences, campaigns, their results and warm-up ramps."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from runtime.api.schemas.base import Body
from runtime.domain.field_messages import FieldRule

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Clock = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
SourceField = Annotated[
    str,
    StringConstraints(pattern=r"^(name|phone|email|attributes\.[A-Za-z_][A-Za-z0-9_.\-]{0,63})$"),
]

AUDIENCE_HELP = (
    'A tree: {"all"|"any": [...]} or {"not": {...}} around conditions {"field", "op", '
    '"value"} (docs/campaigns.md has every field and operator).'
)


# ---- audiences --------------------------------------------------------------------------------


class AudienceIn(Body):
    name: Name
    definition: dict[str, Any] = Field(description=AUDIENCE_HELP)


class AudiencePatch(Body):
    name: Name | None = None
    definition: dict[str, Any] | None = Field(default=None, description=AUDIENCE_HELP)


class AudienceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class AudienceCountIn(Body):
    definition: dict[str, Any] = Field(description=AUDIENCE_HELP)


class AudienceCountOut(BaseModel):
    count: int = Field(description="Contacts matching now")


# ---- campaigns --------------------------------------------------------------------------------


class ParameterSource(Body):
    """One template parameter: a contact field (with a fallback) or a fixed text."""

    field: SourceField | None = Field(
        default=None, description="name, phone, email or attributes.<key>"
    )
    fallback: str | None = Field(default=None, max_length=1000)
    text: str | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_source(self) -> ParameterSource:
        if (self.field is None) == (self.text is None):
            raise FieldRule("one_parameter_source", "give exactly one of field or text")
        return self


class HeaderMedia(Body):
    """The media of an IMAGE/VIDEO/DOCUMENT header, the same for every recipient."""

    type: Literal["image", "video", "document"]
    link: str | None = Field(default=None, max_length=2000, description="https:// URL")
    id: str | None = Field(default=None, max_length=128, description="An uploaded media id")
    filename: str | None = Field(default=None, max_length=240)


class HeaderLocation(Body):
    """The place of a LOCATION header, the same for every recipient (the range of the
    coordinates is the template check's: 422 template_param_invalid)."""

    type: Literal["location"]
    latitude: float = Field(description="-90..90")
    longitude: float = Field(description="-180..180")
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class ButtonSource(ParameterSource):
    """A button's parameter (URL suffix, quick-reply payload, coupon or one-time code)."""

    index: int = Field(ge=0, le=9, description="The button's index in the template")


class Parameters(Body):
    header: list[ParameterSource | HeaderMedia | HeaderLocation] = Field(
        default_factory=list,
        max_length=20,
        description="Text parameters, the one media of an IMAGE/VIDEO/DOCUMENT header, or "
        "the place of a LOCATION header",
    )
    body: list[ParameterSource] = Field(default_factory=list, max_length=20)
    buttons: list[ButtonSource] = Field(default_factory=list, max_length=10)


class TemplateRef(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    language: Annotated[str, StringConstraints(min_length=2, max_length=15)]


class SenderChoice(Body):
    mode: Literal["named", "allocated"] = Field(
        description="named: these numbers, round-robin; allocated: each contact's owner's "
        "number by the allocation rule"
    )
    sender_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _named_needs_numbers(self) -> SenderChoice:
        if self.mode == "named" and not self.sender_ids:
            raise FieldRule("named_needs_senders", "named mode needs at least one sender id")
        if self.mode == "allocated" and self.sender_ids:
            raise FieldRule("allocated_takes_no_senders", "allocated mode takes no sender ids")
        return self


class SendWindow(Body):
    start: Clock = Field(description="HH:MM contact-local")
    end: Clock = Field(description="HH:MM contact-local, after start")
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default=[1, 2, 3, 4, 5, 6, 7], min_length=1, description="ISO: 1 = Monday"
    )

    @model_validator(mode="after")
    def _start_before_end(self) -> SendWindow:
        if self.start >= self.end:
            raise FieldRule(
                "window_start_after_end",
                "start must be before end (a window does not span midnight)",
            )
        self.weekdays = sorted(set(self.weekdays))
        return self


class FrequencyCap(Body):
    count: int = Field(ge=1, le=1000)
    days: int = Field(ge=1, le=365)


class CampaignFields(Body):
    audience_id: uuid.UUID | None = None
    template: TemplateRef | None = None
    parameters: Parameters | None = None
    sender: SenderChoice | None = None
    start_at: datetime | None = Field(
        default=None,
        description="null: when launched. Without an offset it is read in the tenant's zone "
        "(its outreach policy's default time zone).",
    )
    send_window: SendWindow | None = None
    rate_per_minute: int | None = Field(default=None, ge=1, le=60_000)
    frequency_cap: FrequencyCap | None = Field(
        default=None,
        description="At most count campaign messages per contact per days, all campaigns together",
    )
    failure_threshold: float | None = Field(
        default=None, gt=0, le=1, description="Pause when this share of the last 200 fail"
    )


class CampaignIn(CampaignFields):
    name: Name
    audience_id: uuid.UUID
    template: TemplateRef
    sender: SenderChoice
    rate_per_minute: int = Field(default=600, ge=1, le=60_000)
    failure_threshold: float = Field(default=0.2, gt=0, le=1)


class CampaignPatch(CampaignFields):
    name: Name | None = None


class CampaignOut(BaseModel):
    id: uuid.UUID
    name: str
    status: str = Field(description="draft, scheduled, running, paused, completed, cancelled")
    pause_reason: str | None
    audience_id: uuid.UUID
    template: dict[str, str]
    parameters: dict[str, Any]
    sender: dict[str, Any]
    start_at: datetime | None
    send_window: dict[str, Any] | None
    rate_per_minute: int
    frequency_cap: dict[str, int] | None
    failure_threshold: float
    expanded_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    totals: dict[str, int] = Field(description="Recipients per state (live progress)")


class PreviewItem(BaseModel):
    contact_id: uuid.UUID
    name: str
    phone: str | None
    text: str | None = Field(
        default=None, description="What this contact would read (header line, then body)"
    )
    header_text: str | None = Field(
        default=None, description="A TEXT header as this contact would read it; null without one"
    )
    body_text: str | None = Field(
        default=None, description="The body as this contact would read it"
    )
    header: dict[str, Any] | None = Field(
        default=None,
        description="The media or place header this contact would see ({type, link | id, "
        "filename?} or {type: location, latitude, longitude, name?, address?}), the same for "
        "every recipient; null without one",
    )
    problem: str | None = Field(
        default=None,
        description="Why it could not be rendered: missing_parameter:<field>, or "
        "template_text_too_long:header|body (Meta allows 60 and 1024 characters)",
    )


class TestSendIn(Body):
    contact_id: uuid.UUID
    sender_id: uuid.UUID | None = Field(
        default=None,
        description="Default: the campaign's first named number, or the contact's allocated one",
    )


class TestSendOut(BaseModel):
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    status: str


class RecipientOut(BaseModel):
    contact_id: uuid.UUID
    name: str
    phone: str | None
    state: str = Field(
        description="pending, queued, sent, delivered, read, replied, failed or skipped"
    )
    skip_rule: str | None
    error_code: int | None = Field(description="Meta's, when failed")
    sender_id: uuid.UUID | None
    message_id: uuid.UUID | None
    queued_at: datetime | None


class ResultsOut(BaseModel):
    totals: dict[str, int]
    rates: dict[str, float] = Field(
        description="delivered, read, replied and failed, each over the messages handed on"
    )
    cost: dict[str, Any] = Field(description="Billable messages per category, from statuses")


class TimelineBucket(BaseModel):
    at: datetime = Field(description="The bucket's start (UTC)")
    queued: int
    sent: int
    delivered: int
    read: int
    replied: int
    failed: int


class TimelineOut(BaseModel):
    bucket_seconds: int = Field(description="As asked, or wider to keep at most 1440 buckets")
    buckets: list[TimelineBucket]


class EstimateOut(BaseModel):
    recipients: int
    duration_seconds: float = Field(
        description="At the rate cap, the numbers' throughput "
        "and their warm-up budgets, whichever is slowest"
    )
    limited_by: str
    category: str
    cost: float
    currency: str
    price_per_message: float


class WarmupIn(Body):
    day_one_budget: int = Field(ge=1, le=100_000, description="Unique recipients on day 1")


class WarmupOut(BaseModel):
    sender_id: uuid.UUID
    display_number: str
    quality_rating: str
    state: str | None = Field(description="ramping, holding, stopped; null: no ramp")
    day: date
    budget: int | None
    used: int
    remaining: int | None = Field(description="Unique recipients left today; null: unlimited")
