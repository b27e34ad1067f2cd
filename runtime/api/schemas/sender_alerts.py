"""Request/response bodies for sender health alerts, the alert webhook, and failover
switches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from runtime.api.schemas.base import Body
from runtime.domain.field_messages import FieldRule

AlertKind = Literal["quality", "flagged", "restricted", "tier", "token_invalid", "payment_issue"]


class SenderAlertOut(BaseModel):
    id: uuid.UUID
    sender_id: uuid.UUID
    phone_number_id: str
    display_number: str
    kind: AlertKind
    state: str = Field(description="The new value: RED, FLAGGED, TIER_2K, token_invalid, …")
    previous: str | None
    source: Literal["webhook", "poll", "send"]
    message: str
    created_at: datetime
    read_at: datetime | None


class MarkReadIn(Body):
    """Exactly one of ``ids`` (alerts to mark read) or ``all: true`` (every unread one)."""

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadIn:
        if (self.ids is None) == (not self.all):
            raise FieldRule("ids_or_all", "give exactly one of ids or all: true")
        return self


class MarkedOut(BaseModel):
    marked: int


class AlertWebhookIn(Body):
    url: str = Field(
        max_length=2000, pattern=r"^https?://[^\s]+$", description="http(s) URL to POST alerts to"
    )
    secret: str = Field(
        min_length=16, max_length=200, description="HMAC-SHA256 key; never shown again"
    )


class AlertWebhookOut(BaseModel):
    """The webhook as the API shows it: the secret is never returned."""

    url: str
    signature_header: str
    updated_at: datetime


class SenderSwitchOut(BaseModel):
    id: uuid.UUID
    contact_id: uuid.UUID
    from_conversation_id: uuid.UUID
    to_conversation_id: uuid.UUID
    from_sender_id: uuid.UUID
    to_sender_id: uuid.UUID
    reason: str = Field(description="Why the first sender was passed over: RED, FLAGGED, …")
    message_id: uuid.UUID
    created_at: datetime
