"""Graph API error responses raised by the simulator."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse

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


class ServerFault(Exception):
    """A bare 5xx with no Graph error body, as a proxy or gateway in front of Meta answers."""

    def __init__(self, http_status: int = 502) -> None:
        super().__init__(f"HTTP {http_status}")
        self.http_status = http_status


@dataclass(frozen=True)
class SlowAnswer:
    """Accepted-then-timeout: the call is carried out (a send is accepted and its statuses
    follow) but its answer is held back ``delay`` seconds, past the client's timeout."""

    delay: float


Fault = GraphFault | ServerFault | SlowAnswer


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


async def server_fault_handler(_: Request, exc: Exception) -> PlainTextResponse:
    assert isinstance(exc, ServerFault)
    return PlainTextResponse(f"{exc.http_status} Bad Gateway", status_code=exc.http_status)
