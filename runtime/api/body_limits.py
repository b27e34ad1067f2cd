"""Request body limits enforced while the body streams in (chunked bodies included).

A declared ``Content-Length`` over the route's limit is answered 413 before the app runs. A
streamed body is counted as it is received: the moment it passes the limit the app's
``receive`` raises, whatever the app was about to answer is dropped, and the client gets a 413
in the one JSON error shape; the rest of the body is never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.api.errors import error_body
from runtime.settings import Settings

WEBHOOK_MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's cap on a webhook notification
IMPORT_PATHS = frozenset(
    {
        "/api/contacts/imports",
        "/api/contacts/bulk",
        "/api/consent/do-not-contact/imports",
        "/api/consent/do-not-contact/bulk",
    }
)


# An agent's media upload: Meta's largest file (a 100 MB document) plus the multipart framing.
MEDIA_UPLOAD_PATH = re.compile(r"^/api/conversations/[^/]+/media/?$")
MEDIA_UPLOAD_MAX_BODY_BYTES = 100 * 1024 * 1024 + 64 * 1024


def route_limit(settings: Settings, path: str) -> int:
    """The byte limit of a request body on ``path``: webhooks have Meta's cap, contact imports
    the upload limit, media uploads Meta's largest file, every other route the JSON body
    limit."""
    if path.startswith("/webhooks/"):
        return WEBHOOK_MAX_BODY_BYTES
    if path.rstrip("/") in IMPORT_PATHS:
        return settings.max_upload_bytes
    if MEDIA_UPLOAD_PATH.match(path):
        return MEDIA_UPLOAD_MAX_BODY_BYTES
    return settings.max_json_body_bytes


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passed its limit."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _send_too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        error_body("payload_too_large", f"The request body is larger than {limit} bytes.")
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Pure ASGI middleware; ``limit_for(path)`` is read per request (settings may change)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return
        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                return  # the app's answer to a failed read (a 400, a 500) gives way to the 413
            response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:  # BodyTooLarge, or what the app made of it
            if not exceeded:
                raise
        if exceeded and not response_started:
            await _send_too_large(send, limit)
