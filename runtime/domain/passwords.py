"""The password policy: one rule for every place a password is set."""

from __future__ import annotations

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from runtime.domain.errors import Invalid

MIN_LENGTH = 12
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", about 10^8 guesses or more
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])  # the 30,000 most common passwords
# zxcvbn's cost grows fast with length (about 1 s for 72 odd characters): score the start only.
# 32 strong characters are strong whatever follows.
_SCORED_PREFIX = 32


def password_weakness(password: str) -> str | None:
    """Why ``password`` is refused, or None when it is strong enough."""
    if len(password) < MIN_LENGTH:
        return f"The password must be at least {MIN_LENGTH} characters long."
    if password.lower() in _COMMON:
        return "This password is on the list of the most common passwords."
    verdict = zxcvbn(password[:_SCORED_PREFIX])
    if verdict["score"] < MIN_SCORE:
        warning = verdict["feedback"]["warning"] or "It would be easy to guess."
        return f"The password is too weak: {warning} Use a longer phrase of unrelated words."
    return None


def require_strong_password(password: str) -> str:
    """``password`` itself, or ``422 weak_password`` saying why it is refused."""
    reason = password_weakness(password)
    if reason is not None:
        raise Invalid("weak_password", reason)
    return password
