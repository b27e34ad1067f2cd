"""Domain errors carry the HTTP status, a machine-readable code and a human message.

The message is English; runtime/domain/error_messages.py holds the Indonesian one per code,
which the API answers when ``Accept-Language`` prefers it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404

    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} not found")
        self.what = what  # for the message in other languages


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(code, message, {"retry_after": retry_after})
        self.retry_after = retry_after


class PayloadTooLarge(DomainError):
    status_code = 413


class UpstreamUnavailable(DomainError):
    """A service we depend on (Meta's Graph API) failed or could not be reached; retry later."""

    status_code = 502


class ServiceUnavailable(DomainError):
    """We could not do it right now (our database is unreachable); retry later."""

    status_code = 503
