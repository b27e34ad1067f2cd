"""Catalogue of WhatsApp Cloud API error codes (title, HTTP status, details).

Titles and HTTP statuses follow Meta's error-code table (see the team brief, section 2).
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of Meta's error table."""

    code: int
    title: str
    http_status: int
    details: str


_SPECS = (
    ErrorSpec(100, "Invalid parameter", 400, "Invalid parameter."),
    ErrorSpec(190, "Invalid OAuth access token - Cannot parse access token", 401, ""),
    ErrorSpec(368, "Temporarily blocked for policies violations", 403, ""),
    ErrorSpec(
        130429,
        "Rate limit hit",
        400,
        "Cloud API message throughput has been reached.",
    ),
    ErrorSpec(
        131000, "Something went wrong", 500, "Message failed to send due to an unknown error."
    ),
    ErrorSpec(131008, "Required parameter is missing", 400, ""),
    ErrorSpec(131009, "Parameter value is not valid", 400, ""),
    ErrorSpec(131026, "Message Undeliverable", 400, "Unable to deliver message."),
    ErrorSpec(
        131047,
        "Re-engagement message",
        400,
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    ErrorSpec(131051, "Unsupported message type", 400, "Message type is currently not supported."),
    ErrorSpec(
        131056,
        "(Business Account, Consumer Account) pair rate limit hit",
        400,
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    ErrorSpec(
        131057, "Account in maintenance mode", 500, "Business Account is in maintenance mode."
    ),
    ErrorSpec(
        132000,
        "Number of parameters does not match the expected number of params",
        400,
        "",
    ),
    ErrorSpec(132001, "Template name does not exist in the translation", 404, ""),
    ErrorSpec(132012, "Parameter format does not match format in the created template", 400, ""),
    ErrorSpec(132015, "Template is Paused", 400, "Template is paused due to low quality."),
    ErrorSpec(132016, "Template is Disabled", 400, "Template has been disabled."),
)

ERROR_SPECS: dict[int, ErrorSpec] = {spec.code: spec for spec in _SPECS}
ERROR_HREF = "/docs/whatsapp/cloud-api/support/error-codes/"


def spec_for(code: int) -> ErrorSpec:
    """Return the catalogue entry for ``code`` (a generic 400 row when unknown)."""
    return ERROR_SPECS.get(code, ErrorSpec(code, "Unknown error", 400, ""))
