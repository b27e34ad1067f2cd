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
    advice: str = ""  # what it means for the agent who sent the message


_SPECS = (
    ErrorSpec(
        80007,
        "Rate limit issues",
        400,
        "The WhatsApp Business Account has reached its rate limit.",
        "Meta is limiting this business account for a while; the message waits in the queue "
        "and goes out automatically.",
    ),
    ErrorSpec(100, "Invalid parameter", 400, "Invalid parameter."),
    ErrorSpec(
        190,
        "Invalid OAuth access token - Cannot parse access token",
        401,
        "",
        "Meta refused this number's access token (expired or revoked); nothing goes out from "
        "it until an admin sets a new token.",
    ),
    ErrorSpec(
        368,
        "Temporarily blocked for policies violations",
        403,
        "",
        "Meta has temporarily blocked this number for a policy violation; new outreach moves "
        "to another healthy number.",
    ),
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
    ErrorSpec(
        131031,
        "Business Account locked",
        400,
        "Business Account has been restricted or disabled for violating a platform policy.",
        "This WhatsApp number's business account is locked by Meta; nothing can be sent from "
        "it until an admin resolves it in WhatsApp Manager.",
    ),
    ErrorSpec(
        131042,
        "Business eligibility payment issue",
        400,
        "Message failed to send because there were one or more errors related to your "
        "payment method.",
        "Meta refused the message because of a billing problem; an admin must fix the "
        "payment method in WhatsApp Manager.",
    ),
    ErrorSpec(
        131048,
        "Spam rate limit hit",
        400,
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number. This may be because too many previous messages were "
        "blocked or flagged as spam.",
        "Meta restricted this number after customers blocked or reported its messages; "
        "sending is limited until its quality recovers.",
    ),
    ErrorSpec(
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        400,
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        "Meta chose not to deliver this marketing message (per-user marketing limit); it is "
        "not a fault of the number. Try again later, not right away.",
    ),
    ErrorSpec(
        131050,
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business.",
        400,
        "The user has stopped marketing messages.",
        "The customer turned off marketing messages from this business; do not send them "
        "marketing templates.",
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
        131052,
        "Media download error",
        400,
        "Unable to download the media sent by the user.",
        "The customer's attachment could not be downloaded; ask them to send it again.",
    ),
    ErrorSpec(
        131053,
        "Media upload error",
        400,
        "Unable to upload the media used in the message.",
        "The attachment could not be uploaded to WhatsApp; check its type and size and send "
        "it again.",
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
    ErrorSpec(
        133010,
        "Phone number not registered",
        400,
        "The phone number is not registered on the WhatsApp Business Platform.",
        "This business number is not registered with WhatsApp Cloud API; an admin must "
        "register it before it can send.",
    ),
)

ERROR_SPECS: dict[int, ErrorSpec] = {spec.code: spec for spec in _SPECS}
ERROR_HREF = "/docs/whatsapp/cloud-api/support/error-codes/"


def advice_for(code: int | None) -> str | None:
    """What Meta's error ``code`` means for the agent, when the catalogue says."""
    spec = ERROR_SPECS.get(code) if code is not None else None
    return spec.advice or None if spec is not None else None


def spec_for(code: int) -> ErrorSpec:
    """Return the catalogue entry for ``code`` (a generic 400 row when unknown)."""
    return ERROR_SPECS.get(code, ErrorSpec(code, "Unknown error", 400, ""))
