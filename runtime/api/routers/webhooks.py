"""Meta's webhook endpoint: the verification handshake and signed notifications."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError

from runtime.api.deps import ClockDep, SettingsDep
from runtime.clock import utc_now
from runtime.domain.errors import DomainError, Forbidden, ServiceUnavailable, Unauthorized
from runtime.ingest import InboundPipeline
from runtime.whatsapp.signature import SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.get("/whatsapp", response_class=PlainTextResponse)
async def verify_subscription(
    settings: SettingsDep,
    mode: Annotated[str, Query(alias="hub.mode")],
    token: Annotated[str, Query(alias="hub.verify_token")],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)],
) -> str:
    """Meta's subscription handshake: echo the challenge when the verify token matches."""
    expected = settings.whatsapp_verify_token.get_secret_value()
    if mode != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("verification_failed", "hub.mode or hub.verify_token is wrong.")
    return challenge


@router.post("/whatsapp")
async def receive(request: Request, settings: SettingsDep, clock: ClockDep) -> dict[str, bool]:
    """Verify ``X-Hub-Signature-256`` over the raw body, refuse what is not a WhatsApp
    notification, store the raw body and answer once it is committed; it is applied later,
    in batches (runtime/ingest)."""
    raw = await request.body()
    if not verify(
        raw, request.headers.get(SIGNATURE_HEADER), settings.whatsapp_app_secret.get_secret_value()
    ):
        raise Unauthorized("invalid_signature", "X-Hub-Signature-256 does not match the body.")
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DomainError("malformed_json", "The body is not valid JSON.") from exc
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise DomainError("unexpected_object", "Expected a whatsapp_business_account notification.")
    pipeline: InboundPipeline = request.app.state.ingest
    try:
        await pipeline.accept(raw, utc_now(clock))
    except (SQLAlchemyError, OSError) as exc:  # OSError: the database refused the connection
        raise ServiceUnavailable("not_stored", "The webhook could not be stored; retry.") from exc
    return {"accepted": True}
