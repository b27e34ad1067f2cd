"""Meta's webhook verification handshake. Signed notifications (``POST``) are answered by
runtime/ingest/endpoint.py before the router: plain ASGI on the hot path."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from runtime.api.deps import SettingsDep
from runtime.domain.errors import Forbidden

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
