"""Request/response bodies of the agent toolkit: canned responses, labels, notes, typing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from runtime.api.schemas.base import Body
from runtime.domain.canned import SHORTCUT_PATTERN
from runtime.domain.labels import COLOUR_PATTERN

Shortcut = Field(
    pattern=SHORTCUT_PATTERN,
    description="Typed as /shortcut: lower-case letters, digits, - and _, at most 32",
)


class CannedOut(BaseModel):
    id: uuid.UUID
    scope: Literal["tenant", "personal"]
    shortcut: str
    body: str
    owner_agent_id: uuid.UUID | None
    updated_at: datetime | None


class CannedCreate(Body):
    scope: Literal["tenant", "personal"] = Field(
        description="tenant: for everyone (needs canned:write); personal: only yours"
    )
    shortcut: str = Shortcut
    body: str = Field(min_length=1, max_length=4096)


class CannedUpdate(Body):
    shortcut: str | None = Field(default=None, pattern=SHORTCUT_PATTERN)
    body: str | None = Field(default=None, min_length=1, max_length=4096)


class CannedExpansion(BaseModel):
    canned_response_id: uuid.UUID
    shortcut: str
    text: str = Field(description="The body with the contact's and agent's placeholders filled")


class LabelOut(BaseModel):
    id: uuid.UUID
    name: str
    colour: str


class LabelCreate(Body):
    name: str = Field(min_length=1, max_length=50)
    colour: str = Field(default="#6b7280", pattern=COLOUR_PATTERN, description="#rrggbb")


class LabelUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    colour: str | None = Field(default=None, pattern=COLOUR_PATTERN)


class ConversationLabelsOut(BaseModel):
    conversation_id: uuid.UUID
    label_ids: list[uuid.UUID]


class NoteIn(Body):
    body: str = Field(min_length=1, max_length=4096)
    mention_agent_ids: list[uuid.UUID] = Field(
        default=[], max_length=20, description="Agents of the tenant to notify"
    )


class MentionableOut(BaseModel):
    id: uuid.UUID
    name: str


class TypingOut(BaseModel):
    indicated: bool = Field(description="Whether Meta was asked to show typing… now")
    reason: str | None = Field(
        description="Why not: window_closed, sender_inactive, no_inbound_message, throttled, "
        "meta_refused"
    )
