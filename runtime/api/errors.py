"""One JSON error shape everywhere: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.domain.error_messages import localized, preferred_locale
from runtime.domain.errors import DomainError, NotFound, TooManyRequests
from runtime.domain.field_messages import field_message

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _locale(request: Request) -> str:
    return preferred_locale(request.headers.get("accept-language"))


def _language_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Answers differ by ``Accept-Language``: caches must key on it."""
    return {"Vary": "Accept-Language", **(extra or {})}


def _field_errors(exc: RequestValidationError, locale: str) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")),
            "location": err["loc"][0] if err["loc"] else None,
            "message": field_message(err, locale),
            "type": err["type"],
        }
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        what = exc.what if isinstance(exc, NotFound) else None
        message = localized(exc.code, exc.message, _locale(request), what)
        return JSONResponse(
            error_body(exc.code, message, exc.details),
            exc.status_code,
            headers=_language_headers(headers),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        locale = _locale(request)
        message = localized("validation_error", "The request is invalid.", locale)
        return JSONResponse(
            error_body("validation_error", message, _field_errors(exc, locale)),
            422,
            headers=_language_headers(),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        english = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(
            error_body(code, localized(code, english, _locale(request), "Page")),
            exc.status_code,
            headers=_language_headers(getattr(exc, "headers", None)),
        )
