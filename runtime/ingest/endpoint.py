"""``POST /webhooks/whatsapp``, Meta's hot path, as plain ASGI.

Storing a webhook costs less CPU than FastAPI's routing, request object and dependency
resolution around it (docs/benchmarks.md, "accept path"), so this middleware answers the
route itself, inside the body limit and NUL guard and before the router. It verifies
``X-Hub-Signature-256`` over the raw body, refuses what is not JSON or not a
``whatsapp_business_account`` notification, hands the body to the pipeline's group-commit
writer and answers 200 once it is committed. The verification handshake (``GET``) stays a
FastAPI route in runtime/api/routers/webhooks.py.
"""

from __future__ import annotations

import json
import logging

import orjson
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.api.errors import error_body
from runtime.clock import Clock, utc_now
from runtime.ingest import InboundPipeline
from runtime.ingest.accept import NotStored
from runtime.whatsapp.signature import verify

log = logging.getLogger(__name__)

PATH = "/webhooks/whatsapp"
_SIGNATURE = b"x-hub-signature-256"
_ACCEPTED = b'{"accepted":true}'


class WebhookEndpoint:
    """Answers ``POST /webhooks/whatsapp``; passes every other request to ``app``."""

    def __init__(
        self, app: ASGIApp, *, pipeline: InboundPipeline, app_secret: SecretStr, clock: Clock
    ) -> None:
        self.app = app
        self._pipeline = pipeline
        self._app_secret = app_secret
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        raw = await _body(receive)
        status, body = await self._store(raw, _header(scope, _SIGNATURE))
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def _store(self, raw: bytes, signature: str | None) -> tuple[int, bytes]:
        """The status and JSON body of the answer to a notification."""
        if not verify(raw, signature, self._app_secret.get_secret_value()):
            return _error(401, "invalid_signature", "X-Hub-Signature-256 does not match the body.")
        try:
            payload = orjson.loads(raw)
        except ValueError:  # bad JSON, bad UTF-8, nesting too deep
            return _error(400, "malformed_json", "The body is not valid JSON.")
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            return _error(
                400, "unexpected_object", "Expected a whatsapp_business_account notification."
            )
        try:
            await self._pipeline.accept(raw, utc_now(self._clock))
        except NotStored:
            log.warning("webhook not stored; Meta will retry", exc_info=True)
            return _error(503, "not_stored", "The webhook could not be stored; retry.")
        return 200, _ACCEPTED


async def _body(receive: Receive) -> bytes:
    """The whole request body (the body limit outside raises once it is too large)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps(error_body(code, message)).encode()
