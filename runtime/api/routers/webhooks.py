"""Meta's webhook endpoint: the verification handshake and signed notifications."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import IntegrityError

from runtime.api.deps import ClockDep, SessionDep, SettingsDep
from runtime.clock import utc_now
from runtime.domain.errors import DomainError, Forbidden, Unauthorized
from runtime.domain.webhook_ingest import ingest
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
async def receive(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> dict[str, Any]:
    """Verify ``X-Hub-Signature-256`` over the raw body, then store idempotently. Messages
    too deep or too big to store are refused one by one (``errors``), the rest is kept."""
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
    try:
        result = await ingest(session, payload, utc_now(clock))
        await session.commit()
    except IntegrityError:  # a concurrent delivery stored the same wamid first: redo, as dups
        await session.rollback()
        result = await ingest(session, payload, utc_now(clock))
        await session.commit()
    return {
        "messages": result.messages,
        "duplicates": result.duplicates,
        "statuses": result.statuses,
        "ignored": result.ignored,
        "errors": result.errors,
    }
