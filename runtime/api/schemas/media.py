"""The file of a media message, as messages show it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class MediaOut(BaseModel):
    id: uuid.UUID
    kind: Literal["image", "sticker", "audio", "video", "document"]
    mime_type: str
    size_bytes: int | None = Field(description="Known once the bytes are kept here")
    filename: str | None
    sha256: str | None = Field(description="As Meta gave it (hex or base64), or ours (hex)")
    status: Literal["pending", "stored", "failed"] = Field(
        description="pending: being fetched from Meta (retried with backoff); stored: "
        "served at url; failed: given up (error says why)"
    )
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending fetch is tried next")
    error: str | None = Field(description="Why the last fetch failed")
    url: str | None = Field(description="GET it with the bearer token, once stored")
