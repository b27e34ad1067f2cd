"""Retry timing: exponential backoff with jitter, floored by ``Retry-After`` and Meta's hints."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from time import time

from runtime.whatsapp.errors import WhatsAppError


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): ``base * 2**attempt`` capped, with jitter."""

    base: float = 0.5
    cap: float = 30.0
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int, error: WhatsAppError | None = None) -> float:
        """Seconds to wait; never below the error's own minimum (``Retry-After``, 4^X)."""
        ceiling = min(self.cap, self.base * 2**attempt)
        jittered = ceiling / 2 + ceiling / 2 * self.jitter()
        floor = error.min_retry_delay(attempt) if error is not None else 0.0
        return max(jittered, floor)


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header given in seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None
