"""Graph API error responses raised by the simulator."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from runtime.whatsapp.error_codes import spec_for
from runtime.whatsapp.errors import graph_error_body


class GraphFault(Exception):
    """An error the simulated Graph API answers with, in Meta's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        code: int,
        *,
        message: str | None = None,
        details: str | None = None,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or str(code))
        self.body = graph_error_body(
            code, message=message, details=details, subcode=subcode, error_type=error_type
        )
        self.http_status = http_status or spec_for(code).http_status
        self.retry_after = retry_after


def invalid_parameter(message: str) -> GraphFault:
    """Code 100 with Graph's ``(#100) ...`` message."""
    return GraphFault(100, message=f"(#100) {message}", details="")


def missing_parameter(name: str) -> GraphFault:
    return invalid_parameter(f"The parameter {name} is required.")


def unknown_object(object_id: str, method: str) -> GraphFault:
    """Graph's answer for an id that does not exist or the token may not use."""
    return GraphFault(
        100,
        message=(
            f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
        details="",
        subcode=33,
        error_type="GraphMethodException",
    )


async def graph_fault_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GraphFault)
    headers = {} if exc.retry_after is None else {"Retry-After": str(int(exc.retry_after))}
    return JSONResponse(exc.body, status_code=exc.http_status, headers=headers)
