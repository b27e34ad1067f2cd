"""Control API under ``/_sim/``: seed state, trigger Meta-side events, inspect results."""

from __future__ import annotations

import base64
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from runtime.whatsapp.simulator.engine import NumberStatus, Simulator, Tier
from runtime.whatsapp.simulator.faults import Fault, GraphFault, ServerFault, SlowAnswer
from runtime.whatsapp.simulator.state import PhoneNumber
from runtime.whatsapp.webhooks import StatusName

router = APIRouter(prefix="/_sim")

K = TypeVar("K")
V = TypeVar("V")


class PhoneNumberIn(BaseModel):
    id: str
    display_phone_number: str
    waba_id: str
    access_token: str
    verified_name: str
    quality_rating: Literal["GREEN", "YELLOW", "RED"] = "GREEN"
    messaging_limit_tier: Tier = "TIER_250"
    throughput_level: Literal["STANDARD", "HIGH"] = "STANDARD"
    throughput_mps: float | None = Field(default=None, gt=0, le=10_000)


class TemplateIn(BaseModel):
    waba_id: str
    name: str
    language: str = "en_US"
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] = "UTILITY"
    status: str = "APPROVED"
    components: list[dict[str, Any]] = Field(default_factory=list)


class CustomerMessageIn(BaseModel):
    """``data_base64``/``mime_type``/``filename``: the file of a media message (an image
    without them is a small generated PNG)."""

    phone_number_id: str
    type: Literal[
        "text", "image", "sticker", "audio", "video", "document", "unsupported", "interactive",
        "reaction", "location", "contacts", "order", "button",
    ] = "text"  # fmt: skip
    text: str | None = None
    caption: str | None = None
    name: str | None = None
    reply_to: str | None = None
    # The rich types' object as Meta sends it (a list for ``contacts``), and a
    # Click-to-WhatsApp ad ``referral`` the message came from.
    content: dict[str, Any] | list[dict[str, Any]] | None = None
    referral: dict[str, Any] | None = None
    data_base64: str | None = Field(default=None, max_length=140_000_000)
    mime_type: str | None = None
    filename: str | None = Field(default=None, max_length=240)

    def media(self) -> tuple[bytes, str, str | None] | None:
        if self.data_base64 is None:
            return None
        try:
            data = base64.b64decode(self.data_base64, validate=True)
        except ValueError as exc:
            raise HTTPException(422, "data_base64 is not base64") from exc
        return data, self.mime_type or "application/octet-stream", self.filename


class QualityIn(BaseModel):
    quality_rating: Literal["GREEN", "YELLOW", "RED"] | None = None
    messaging_limit_tier: Tier | None = None
    event: str | None = None


class NumberStatusIn(BaseModel):
    status: NumberStatus


class TokenIn(BaseModel):
    access_token: str = Field(min_length=1)


class ThroughputIn(BaseModel):
    level: Literal["STANDARD", "HIGH"]


class TemplateStatusIn(BaseModel):
    status: str
    reason: str | None = "NONE"


class StatusesIn(BaseModel):
    statuses: list[StatusName]
    error_code: int = 131026


class ClockIn(BaseModel):
    seconds: float


class FaultIn(BaseModel):
    """``error``: Meta's error ``code``; ``accepted_timeout``: the call is carried out but
    answered only after ``delay`` seconds; ``server_error``: a bare ``http_status`` (5xx)
    without a Graph error body. ``object_id``: only calls on that phone-number, WABA or
    media id (in the call's path) take the fault; without it, the next calls of any."""

    kind: Literal["error", "accepted_timeout", "server_error"] = "error"
    code: int = 131000
    http_status: int | None = Field(default=None, ge=400, le=599)
    times: int = Field(default=1, ge=1, le=100_000)
    retry_after: float | None = None
    delay: float = Field(default=30.0, ge=0, le=600)
    object_id: str | None = Field(default=None, min_length=1, max_length=64)


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.simulator
    return sim


def _lookup(mapping: dict[K, V], key: K, what: str) -> V:
    if key not in mapping:
        raise HTTPException(404, f"unknown {what} {key}")
    return mapping[key]


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/phone_numbers")
async def list_phone_numbers(request: Request) -> dict[str, Any]:
    return {"data": [n.graph_fields() for n in _sim(request).state.phone_numbers.values()]}


@router.post("/phone_numbers", status_code=201)
async def add_phone_number(body: PhoneNumberIn, request: Request) -> dict[str, Any]:
    number = PhoneNumber(**body.model_dump())
    _sim(request).state.phone_numbers[number.id] = number
    return number.graph_fields()


@router.post("/phone_numbers/{phone_number_id}/quality")
async def set_quality(phone_number_id: str, body: QualityIn, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    number = _lookup(sim.state.phone_numbers, phone_number_id, "phone number")
    delivery = sim.set_quality(number, **body.model_dump())
    return {"delivery_id": delivery.id, "phone_number": number.graph_fields()}


@router.post("/phone_numbers/{phone_number_id}/status")
async def set_number_status(
    phone_number_id: str, body: NumberStatusIn, request: Request
) -> dict[str, Any]:
    """Flag, restrict, ban or reconnect the number; Meta's matching webhook follows."""
    sim = _sim(request)
    number = _lookup(sim.state.phone_numbers, phone_number_id, "phone number")
    delivery = sim.set_status(number, body.status)
    return {"delivery_id": delivery.id, "phone_number": number.graph_fields()}


@router.post("/phone_numbers/{phone_number_id}/token")
async def set_number_token(phone_number_id: str, body: TokenIn, request: Request) -> dict[str, Any]:
    """Rotate (or, with a value nobody has, revoke) the token that may use the number:
    calls with the old one get 190 from now on."""
    number = _lookup(_sim(request).state.phone_numbers, phone_number_id, "phone number")
    number.access_token = body.access_token
    return {"id": number.id}


@router.post("/phone_numbers/{phone_number_id}/throughput")
async def set_throughput(
    phone_number_id: str, body: ThroughputIn, request: Request
) -> dict[str, Any]:
    """Meta's throughput upgrade (HIGH: 1,000 msg/s) or its reversal; read by polls."""
    number = _lookup(_sim(request).state.phone_numbers, phone_number_id, "phone number")
    number.throughput_level = body.level
    return number.graph_fields()


@router.post("/templates", status_code=201)
async def add_template(body: TemplateIn, request: Request) -> dict[str, Any]:
    return _sim(request).add_template(**body.model_dump()).graph_fields()


@router.post("/templates/{template_id}/status")
async def set_template_status(
    template_id: int, body: TemplateStatusIn, request: Request
) -> dict[str, Any]:
    sim = _sim(request)
    template = _lookup(sim.state.templates, template_id, "template")
    return {"delivery_id": sim.set_template_status(template, body.status, body.reason).id}


@router.post("/customers/{wa_id}/messages")
async def customer_message(wa_id: str, body: CustomerMessageIn, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    number = _lookup(sim.state.phone_numbers, body.phone_number_id, "phone number")
    message_id, delivery = sim.customer_message(
        number,
        wa_id,
        kind=body.type,
        name=body.name,
        text=body.text,
        caption=body.caption,
        reply_to=body.reply_to,
        content=body.content,
        referral=body.referral,
        media=body.media(),
    )
    return {"message_id": message_id, "delivery_id": delivery.id}


@router.get("/clock")
async def read_clock(request: Request) -> dict[str, Any]:
    clock = _sim(request).state.clock
    return {"now": clock.timestamp(), "offset": clock.offset}


@router.post("/clock/advance")
async def advance_clock(body: ClockIn, request: Request) -> dict[str, Any]:
    clock = _sim(request).state.clock
    clock.offset += body.seconds
    return {"now": clock.timestamp(), "offset": clock.offset}


@router.get("/messages")
async def list_messages(
    request: Request, phone_number_id: str | None = None, to: str | None = None
) -> dict[str, Any]:
    messages = _sim(request).state.sent.values()
    return {
        "data": [
            m.to_json()
            for m in messages
            if phone_number_id in (None, m.phone_number_id) and to in (None, m.wa_id)
        ]
    }


@router.get("/messages_count")
async def count_messages(request: Request) -> dict[str, int]:
    """How many messages were accepted so far (cheap to poll, unlike the list)."""
    return {"count": len(_sim(request).state.sent)}


@router.get("/messages/{message_id}")
async def get_message(message_id: str, request: Request) -> dict[str, Any]:
    return _lookup(_sim(request).state.sent, message_id, "message").to_json()


@router.post("/messages/{message_id}/statuses")
async def emit_statuses(message_id: str, body: StatusesIn, request: Request) -> dict[str, Any]:
    """Send the given statuses now, in the given order (e.g. ``["read", "delivered"]``)."""
    sim = _sim(request)
    message = _lookup(sim.state.sent, message_id, "message")
    deliveries = [
        sim.emit_status(message, status, error_code=body.error_code) for status in body.statuses
    ]
    return {"delivery_ids": [d.id for d in deliveries]}


@router.get("/webhooks")
async def list_webhooks(request: Request) -> dict[str, Any]:
    return {"data": [d.to_json() for d in _sim(request).outbox.deliveries]}


@router.post("/webhooks/{delivery_id}/redeliver")
async def redeliver(delivery_id: int, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    delivery = sim.outbox.get(delivery_id)
    if delivery is None:
        raise HTTPException(404, f"unknown delivery {delivery_id}")
    return {"delivery_id": sim.redeliver(delivery).id}


@router.post("/faults")
async def inject_fault(body: FaultIn, request: Request) -> dict[str, Any]:
    """Fail the next ``times`` Graph calls (on ``object_id`` only, if given): with ``code``
    (and optional ``Retry-After``), by answering too late, or with a bare 5xx."""
    fault: Fault
    if body.kind == "accepted_timeout":
        fault = SlowAnswer(body.delay)
    elif body.kind == "server_error":
        fault = ServerFault(body.http_status or 502)
    else:
        fault = GraphFault(body.code, http_status=body.http_status, retry_after=body.retry_after)
    return {"pending": _sim(request).inject_fault(fault, body.times, body.object_id)}


@router.get("/refusals")
async def refusals(request: Request) -> dict[str, int]:
    """How many sends the simulated rate limits refused, by Meta's code."""
    return {str(code): count for code, count in _sim(request).refusals.items()}
