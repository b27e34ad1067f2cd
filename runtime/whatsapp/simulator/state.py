"""In-memory model of Meta's side: numbers, templates, windows, messages and a clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from runtime.whatsapp.webhooks import BusinessNumber, PricingType

SERVICE_WINDOW_SECONDS = 24 * 3600


@dataclass
class SimClock:
    """Wall clock shifted by an offset that the control API advances."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def timestamp(self) -> int:
        """Unix seconds, as used in webhook payloads."""
        return int(self.now())


@dataclass
class PhoneNumber:
    """A business phone number and the token allowed to use it."""

    id: str
    display_phone_number: str
    waba_id: str
    access_token: str
    verified_name: str
    quality_rating: str = "GREEN"
    messaging_limit_tier: str = "TIER_250"
    throughput_level: str = "STANDARD"
    throughput_mps: float | None = None  # a test's own rate instead of the level's
    status: str = "CONNECTED"  # Meta's number status: CONNECTED, FLAGGED, RESTRICTED, BANNED
    name_status: str = "APPROVED"

    @property
    def business_number(self) -> BusinessNumber:
        return BusinessNumber(self.waba_id, self.id, self.display_phone_number)

    @property
    def throughput(self) -> float:
        """Messages per second: 80 by default, 1,000 after a throughput upgrade."""
        if self.throughput_mps is not None:
            return self.throughput_mps
        return 1000.0 if self.throughput_level == "HIGH" else 80.0

    def graph_fields(self) -> dict[str, Any]:
        """All readable fields of the ``WhatsAppBusinessPhoneNumber`` node."""
        return {
            "verified_name": self.verified_name,
            "code_verification_status": "VERIFIED",
            "display_phone_number": self.display_phone_number,
            "quality_rating": self.quality_rating,
            "platform_type": "CLOUD_API",
            "throughput": {"level": self.throughput_level},
            "whatsapp_business_manager_messaging_limit": self.messaging_limit_tier,
            "messaging_limit_tier": self.messaging_limit_tier,
            "status": self.status,
            "name_status": self.name_status,
            "id": self.id,
        }


@dataclass
class Template:
    """A message template of a WABA."""

    id: int
    waba_id: str
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]

    def graph_fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "parameter_format": "POSITIONAL",
            "components": self.components,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": str(self.id),
        }


@dataclass
class StatusEvent:
    status: str
    timestamp: int


@dataclass
class SentMessage:
    """An outbound message accepted by the Graph API and its status history."""

    id: str
    phone_number_id: str
    wa_id: str
    type: str
    body: dict[str, Any]
    pricing_category: str
    pricing_type: PricingType
    received_at: float = 0.0  # simulator clock, when the send request was accepted
    statuses: list[StatusEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "callback_data": self.body.get("biz_opaque_callback_data"),
            "phone_number_id": self.phone_number_id,
            "to": self.wa_id,
            "type": self.type,
            "body": self.body,
            "status": self.statuses[-1].status if self.statuses else "accepted",
            "statuses": [{"status": s.status, "timestamp": s.timestamp} for s in self.statuses],
        }


@dataclass
class InboundMessage:
    """A customer's message to a business number."""

    id: str
    phone_number_id: str
    wa_id: str
    read: bool = False


@dataclass
class SimState:
    """Everything the simulator remembers."""

    clock: SimClock = field(default_factory=SimClock)
    phone_numbers: dict[str, PhoneNumber] = field(default_factory=dict)
    templates: dict[int, Template] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    last_inbound: dict[tuple[str, str], float] = field(default_factory=dict)
    sent: dict[str, SentMessage] = field(default_factory=dict)
    inbound: dict[str, InboundMessage] = field(default_factory=dict)

    def window_open(self, phone_number_id: str, wa_id: str) -> bool:
        """Whether the 24 h customer-service window with ``wa_id`` is open."""
        last = self.last_inbound.get((phone_number_id, wa_id))
        return last is not None and self.clock.now() - last < SERVICE_WINDOW_SECONDS

    def find_template(self, waba_id: str, name: str, language: str) -> Template | None:
        return next(
            (
                t
                for t in self.templates.values()
                if (t.waba_id, t.name, t.language) == (waba_id, name, language)
            ),
            None,
        )

    def numbers_for_token(self, token: str) -> list[PhoneNumber]:
        return [n for n in self.phone_numbers.values() if n.access_token == token]
