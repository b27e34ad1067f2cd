"""Request/response bodies of the inbox: conversations, messages, templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.api.schemas.base import Body
from runtime.api.schemas.media import MediaOut
from runtime.domain.field_messages import FieldRule

ConversationStatus = Literal["open", "pending", "resolved", "snoozed"]


class ContactBrief(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None = Field(description="E.164; null while only the user id is known")
    wa_user_id: str | None = Field(description="Meta's business-scoped user id, if known")


class ConversationOut(BaseModel):
    id: uuid.UUID
    sender_id: uuid.UUID
    contact: ContactBrief
    status: ConversationStatus
    assigned_agent_id: uuid.UUID | None
    assigned_team_id: uuid.UUID | None
    unread_count: int
    last_message_at: datetime | None
    last_message_preview: str
    window_open: bool
    window_expires_at: datetime | None
    snoozed_until: datetime | None
    created_at: datetime
    referral: dict[str, Any] | None = Field(
        default=None, description="The Click-to-WhatsApp ad the customer came from (Meta's)"
    )
    label_ids: list[uuid.UUID] = Field(
        default=[], description="Its labels (events carry them as conversation.labels)"
    )


class QueueOut(BaseModel):
    not_before: datetime = Field(description="Estimated earliest send time")
    reason: str | None = Field(
        description="What it waits for: in_line (its turn at the number's rate), throughput, "
        "pair_rate, daily_limit, backoff, retry, eligibility (null: nothing, it goes next)"
    )


class ReactionRefusedOut(BaseModel):
    emoji: str = Field(description='The refused reaction ("": removing ours was refused)')
    error_code: int | None = Field(description="Meta's error code")
    error_message: str | None = Field(description="Meta's reason")
    reaction_id: uuid.UUID = Field(description="Our reaction message (status failed)")


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    wamid: str | None
    direction: Literal["inbound", "outbound", "note"] = Field(
        description="note: an internal note of the team (payload.mentions), never sent"
    )
    type: str
    body: str
    payload: dict[str, Any]
    status: str
    error_code: int | None
    error_message: str | None
    sent_by_agent_id: uuid.UUID | None
    created_at: datetime
    conversation_seq: int = Field(description="Place in the conversation; orders messages")
    pricing: dict[str, Any] | None = Field(description="Meta's pricing from status webhooks")
    error_advice: str | None = Field(
        default=None, description="What Meta's error code means for the agent, if catalogued"
    )
    not_confirmed: bool = Field(
        default=False,
        description="Outcome unknown and no status webhook within the configured time: the "
        "agent may deliberately resend (POST .../messages/{id}/resend)",
    )
    resend_of_id: uuid.UUID | None = Field(default=None, description="The message this resends")
    queue: QueueOut | None = Field(
        default=None, description="While queued: when it may go at the earliest, and why"
    )
    reactions: dict[str, str] = Field(
        default={}, description='Reactions to this message by side: {"customer"?, "business"?}'
    )
    reaction_refused: ReactionRefusedOut | None = Field(
        default=None,
        description='Meta refused our latest reaction to this message for good (emoji "": '
        "a removal); reactions.business is back to the emoji Meta still carries (our latest "
        "earlier reaction it accepted, if any); cleared by our next reaction",
    )
    reply_to: dict[str, Any] | None = Field(
        default=None,
        description="The message this one answers: {wamid} and, when it is stored here, its "
        "id, direction, type and body",
    )
    media: MediaOut | None = Field(
        default=None, description="The file of an image, sticker, audio, video or document"
    )


class ConversationStart(Body):
    contact_id: uuid.UUID
    sender_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the allocation rule's choice for the caller"
    )


class ConversationUpdate(Body):
    status: ConversationStatus | None = None
    snoozed_until: datetime | None = None
    assigned_agent_id: uuid.UUID | None = None
    assigned_team_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _snooze_needs_time(self) -> ConversationUpdate:
        if self.status == "snoozed" and self.snoozed_until is None:
            raise FieldRule("snooze_needs_time", "snoozed_until is required to snooze")
        return self


class TemplateParams(Body):
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    parameters: dict[
        Literal["header", "body", "buttons"],
        Annotated[list[str | dict[str, Any]], Field(max_length=20)],
    ] = Field(
        default={},
        description='e.g. {"header": [{"type": "image", "link": "https://…"}], "body": '
        '["Budi", {"type": "currency", "fallback_value": "Rp 10.000", "code": "IDR", '
        '"amount_1000": 10000000}], "buttons": [{"index": 0, "value": "ORDER-12"}]} '
        "(docs/rich-messages.md)",
    )


class InteractiveIn(Body):
    """Reply buttons (``buttons``: [{id, title}], at most 3) or a list (``button`` label and
    ``sections``: [{title?, rows: [{id, title, description?}]}], at most 10 rows); Meta's
    length limits are checked when sent (422 ``interactive_invalid``)."""

    type: Literal["button", "list"]
    body: str = Field(max_length=4096)
    header: str | None = Field(default=None, max_length=4096)
    footer: str | None = Field(default=None, max_length=4096)
    buttons: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    button: str | None = Field(default=None, max_length=4096)
    sections: list[dict[str, Any]] | None = Field(default=None, max_length=50)


class ReactionIn(Body):
    message_id: uuid.UUID = Field(description="A message of this conversation")
    emoji: str = Field(max_length=32, description='One emoji; "" removes our reaction')


class SendIn(Body):
    type: Literal["text", "template", "interactive", "reaction"]
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateParams | None = None
    interactive: InteractiveIn | None = None
    reaction: ReactionIn | None = None
    reply_to_message_id: uuid.UUID | None = Field(
        default=None,
        description="Answer this message of the conversation (text and interactive): the "
        "customer sees it quoted",
    )

    @model_validator(mode="after")
    def _matching_content(self) -> SendIn:
        if getattr(self, self.type) is None:
            raise FieldRule(
                "content_missing", f"a {self.type} message needs '{self.type}'", type=self.type
            )
        if self.reply_to_message_id is not None and self.type not in ("text", "interactive"):
            raise FieldRule(
                "reply_not_supported", "only a text or interactive message can reply to a message"
            )
        return self


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    waba_id: str
    name: str
    language: str
    status: str
    category: str
    quality_score: str | None = Field(description="Meta's GREEN/YELLOW/RED/UNKNOWN, if told")
    components: list[dict[str, Any]]


class SyncOut(BaseModel):
    created: int
    updated: int
    removed: int


class IngestErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    field: str = Field(description="messages | statuses | changes | entry")
    item_id: str | None = Field(description="The item's id (a wamid) when it had one")
    code: str = Field(description="Machine-readable reason, e.g. invalid_type, missing_id")
    message: str
    excerpt: str = Field(description="The item's JSON, cut to 1000 characters")
    created_at: datetime
