"""Small immutable results returned by :class:`runtime.whatsapp.client.CloudAPIClient`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SendResult:
    """An accepted send: the ``wamid``, the recipient's WhatsApp ID and the pacing status."""

    message_id: str
    wa_id: str
    message_status: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SendResult:
        message = data["messages"][0]
        return cls(message["id"], data["contacts"][0]["wa_id"], message.get("message_status"))


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """``GET /{media-id}``: where to download a media file (for about 5 minutes) and what
    Meta says of it."""

    id: str
    url: str
    mime_type: str
    sha256: str
    file_size: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaInfo:
        return cls(
            str(data["id"]),
            str(data["url"]),
            str(data.get("mime_type", "")),
            str(data.get("sha256", "")),
            int(data.get("file_size", 0)),
        )


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """One message template of a WhatsApp Business Account."""

    id: str
    name: str
    language: str
    status: str
    category: str
    components: tuple[dict[str, Any], ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TemplateInfo:
        return cls(
            id=str(data["id"]),
            name=data["name"],
            language=data["language"],
            status=data["status"],
            category=data["category"],
            components=tuple(data.get("components", ())),
        )


@dataclass(frozen=True, slots=True)
class PhoneNumberInfo:
    """Business phone number profile, quality and limits."""

    id: str
    verified_name: str
    display_phone_number: str
    quality_rating: str
    messaging_limit_tier: str | None
    throughput_level: str | None
    status: str | None = None  # CONNECTED, FLAGGED, RESTRICTED, BANNED, …
    name_status: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhoneNumberInfo:
        return cls(
            id=str(data["id"]),
            verified_name=data["verified_name"],
            display_phone_number=data["display_phone_number"],
            quality_rating=data["quality_rating"],
            messaging_limit_tier=data.get(
                "whatsapp_business_manager_messaging_limit", data.get("messaging_limit_tier")
            ),
            throughput_level=data.get("throughput", {}).get("level"),
            status=data.get("status"),
            name_status=data.get("name_status"),
        )
