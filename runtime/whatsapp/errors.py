"""Typed WhatsApp Cloud API errors and Meta's error shapes (synchronous and webhook)."""

from __future__ import annotations

from typing import Any, ClassVar

from runtime.whatsapp.error_codes import ERROR_HREF, spec_for

# Codes Meta documents as temporary: throughput, pair and app/WABA rate limits, unknown
# server-side failures and the maintenance window during a throughput upgrade.
TRANSIENT_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131056, 131057})


class WhatsAppError(Exception):
    """An error returned by the Cloud API; also the fallback for unknown codes."""

    codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        details: str | None = None,
        http_status: int = 400,
        fbtrace_id: str | None = None,
        is_transient: bool = False,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"[{code}] {message}" + (f": {details}" if details else ""))
        self.code = code
        self.subcode = subcode
        self.message = message
        self.details = details
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.is_transient = is_transient
        self.error_type = error_type
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether repeating the same request later may succeed."""
        return (
            self.is_transient
            or self.code in TRANSIENT_CODES
            or self.http_status >= 500
            or self.http_status == 429
        )

    def min_retry_delay(self, attempt: int) -> float:
        """Smallest delay in seconds before retry number ``attempt`` (0-based)."""
        return self.retry_after or 0.0


class AuthError(WhatsAppError):
    """Access token expired, invalid or missing (190)."""

    codes = frozenset({190})


class InvalidParameter(WhatsAppError):
    """A parameter is unsupported, missing or invalid (100, 131008, 131009)."""

    codes = frozenset({100, 131008, 131009})


class AccountBlocked(WhatsAppError):
    """The account is temporarily blocked for policy violations (368)."""

    codes = frozenset({368})


class ReEngagementWindowClosed(WhatsAppError):
    """Free-form message outside the 24 h customer-service window; send a template (131047)."""

    codes = frozenset({131047})


class ThroughputLimit(WhatsAppError):
    """The sender's messages-per-second throughput was exceeded (130429)."""

    codes = frozenset({130429})


class PairRateLimit(WhatsAppError):
    """Too many messages to the same recipient (131056); retry after 4^X seconds."""

    codes = frozenset({131056})

    def min_retry_delay(self, attempt: int) -> float:
        return max(super().min_retry_delay(attempt), float(4**attempt))


class TemplateError(WhatsAppError):
    """Any template error (132xxx)."""


class TemplateParamCountMismatch(TemplateError):
    """The number of parameters does not match the template's placeholders (132000)."""

    codes = frozenset({132000})


class TemplateNotFound(TemplateError):
    """Template missing in that language or not approved (132001)."""

    codes = frozenset({132001})


_BY_CODE: dict[int, type[WhatsAppError]] = {
    code: cls
    for cls in (
        AuthError,
        InvalidParameter,
        AccountBlocked,
        ReEngagementWindowClosed,
        ThroughputLimit,
        PairRateLimit,
        TemplateParamCountMismatch,
        TemplateNotFound,
    )
    for code in cls.codes
}


def error_class(code: int) -> type[WhatsAppError]:
    """The exception class for a Meta error code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if 132000 <= code < 133000:
        return TemplateError
    return WhatsAppError


def error_from_response(
    status: int, body: Any, *, retry_after: float | None = None
) -> WhatsAppError:
    """Build the typed exception for a failed Graph API response ``{"error": {...}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return WhatsAppError(
            0,
            f"HTTP {status} without a Graph error body",
            http_status=status,
            retry_after=retry_after,
        )
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) else 0  # a body that is not Graph's
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    return error_class(code)(
        code,
        str(error.get("message", "")),
        subcode=error.get("error_subcode"),
        details=details,
        http_status=status,
        fbtrace_id=error.get("fbtrace_id"),
        is_transient=bool(error.get("is_transient", False)),
        error_type=error.get("type"),
        retry_after=retry_after,
    )


def error_from_webhook(error: dict[str, Any]) -> WhatsAppError:
    """Build the typed exception for one entry of a webhook ``errors[]`` array."""
    code = int(error["code"])
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    return error_class(code)(
        code,
        str(error.get("message") or error.get("title", "")),
        details=details,
        http_status=spec_for(code).http_status,
    )


def webhook_error(code: int, *, details: str | None = None) -> dict[str, Any]:
    """Meta's asynchronous error object, as found in ``statuses[].errors[]``."""
    spec = spec_for(code)
    return {
        "code": code,
        "title": spec.title,
        "message": spec.title,
        "error_data": {"details": details if details is not None else spec.details},
        "href": ERROR_HREF,
    }


def graph_error_body(
    code: int,
    *,
    message: str | None = None,
    details: str | None = None,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    fbtrace_id: str = "ASimulatedTraceId",
) -> dict[str, Any]:
    """Meta's synchronous error body ``{"error": {...}}``.

    ``message`` defaults to ``"(#<code>) <title>"`` as the Graph API formats it.
    """
    spec = spec_for(code)
    error: dict[str, Any] = {
        "message": message if message is not None else f"(#{code}) {spec.title}",
        "type": error_type,
        "code": code,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    resolved_details = details if details is not None else spec.details
    if resolved_details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": resolved_details}
    error["fbtrace_id"] = fbtrace_id
    return {"error": error}
