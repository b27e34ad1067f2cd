"""What one send's answer means: accepted, refused for good, worth retrying, or unknown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from runtime.whatsapp.errors import PairRateLimit, WhatsAppError

# Limits Meta tells us we hit: the worker backs off the number (130429; 80007 is the WABA's
# limit, which the number's sends are what we control) or the pair (131056).
NUMBER_LIMIT_CODES = frozenset({130429, 80007})
PAIR_LIMIT_CODES = frozenset({131056})
BACKOFF_CAP = 300.0


@dataclass(frozen=True)
class Accepted:
    wamid: str


@dataclass(frozen=True)
class Refused:
    """A definite refusal: Meta's code and text are kept on the message."""

    code: int | None
    text: str


@dataclass(frozen=True)
class Retry:
    """Not sent, try again after ``delay`` seconds; ``limit``: which shared limit to close."""

    code: int | None
    text: str
    delay: float
    limit: Literal["number", "pair"] | None = None


@dataclass(frozen=True)
class Unknown:
    """The request may have reached Meta but its answer was lost: maybe sent."""

    text: str


@dataclass(frozen=True)
class Late:
    """Not sent: the worker reached the slot too late (a stalled process). Sending now would
    bunch with later slots and break the rate, so the row goes back to the queue as it was."""


Outcome = Accepted | Refused | Retry | Unknown | Late


def _backoff(error: WhatsAppError | None, deferrals: int) -> float:
    base = float(4**deferrals) if isinstance(error, PairRateLimit) else 2.0**deferrals
    floor = error.retry_after or 0.0 if error is not None else 0.0
    return min(BACKOFF_CAP, max(base, floor))


def classify(exc: BaseException, deferrals: int) -> Outcome:
    """The outcome of a send that raised ``exc`` (after ``deferrals`` earlier retries)."""
    if isinstance(exc, WhatsAppError):
        text = (exc.details or exc.message)[:500]
        if exc.code == 0 and exc.http_status >= 500:
            # A bare 5xx (a proxy or gateway, no Graph error): Meta may have the message.
            return Unknown(f"HTTP {exc.http_status} from the WhatsApp API; it may have been sent.")
        if exc.code in NUMBER_LIMIT_CODES:
            return Retry(exc.code, text, _backoff(exc, deferrals), "number")
        if exc.code in PAIR_LIMIT_CODES:
            return Retry(exc.code, text, _backoff(exc, deferrals), "pair")
        if exc.retryable:
            return Retry(exc.code, text, _backoff(exc, deferrals))
        return Refused(exc.code or None, text)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # The request never left: sending it again cannot make a duplicate.
        return Retry(None, "The WhatsApp API could not be reached.", _backoff(None, deferrals))
    if isinstance(exc, httpx.HTTPError):
        return Unknown(f"The connection failed after the request was sent ({type(exc).__name__}).")
    raise exc
