"""The ``Ready`` condition, upserted without clobbering other conditions.

kopf's ``patch.status[...]`` is a JSON merge-patch, which replaces lists wholesale; the
condition is therefore written through ``patch.fns``: a function kopf applies to the fresh
body and sends as a JSON-patch guarded by ``resourceVersion``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

# Not-ready reasons that are no failure: children rolling out, a tenant still being made,
# a deleted tenant's pods shutting down.
WAITING = frozenset({"Progressing", "TenantNotReady", "Terminating"})


@dataclass(frozen=True)
class Condition:
    status: Status
    reason: str
    message: str

    @property
    def phase(self) -> str:
        """Ready, Progressing (waiting for something that is on its way) or Failed (a cause
        the user may have to act on: a Warning Event)."""
        if self.status == "True":
            return "Ready"
        return "Progressing" if self.reason in WAITING else "Failed"


@dataclass(frozen=True)
class Outcome:
    """The Ready condition plus status fields; ``retry`` asks the handler to retry soon."""

    condition: Condition
    fields: dict[str, Any]
    retry: bool


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def upsert(
    conditions: list[dict[str, Any]],
    kind: str,
    condition: Condition,
    generation: int,
    timestamp: str,
) -> list[dict[str, Any]]:
    """``conditions`` with ``kind`` replaced; ``lastTransitionTime`` moves only when the
    status changes. Other condition types are kept as they are."""
    previous = next((c for c in conditions if c.get("type") == kind), None)
    changed = previous is None or previous.get("status") != condition.status
    entry = {
        "type": kind,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "observedGeneration": generation,
        "lastTransitionTime": (
            timestamp if changed or previous is None else previous["lastTransitionTime"]
        ),
    }
    others = [c for c in conditions if c.get("type") != kind]
    return [*others, entry]


def ready_patch(
    condition: Condition, generation: int, fields: dict[str, Any] | None = None
) -> Callable[[Any], None]:
    """A ``patch.fns`` function: Ready condition, phase, observedGeneration and ``fields``
    (a ``None`` value removes that field)."""
    timestamp = now()

    def apply(body: Any) -> None:
        status = body.setdefault("status", {})
        status["conditions"] = upsert(
            status.get("conditions") or [], "Ready", condition, generation, timestamp
        )
        status["observedGeneration"] = generation
        status["phase"] = condition.phase
        for key, value in (fields or {}).items():
            if value is None:  # a field that no longer applies (e.g. ``retry`` after success)
                status.pop(key, None)
            else:
                status[key] = value

    return apply


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Delay before retry ``attempt`` (0 = the first retry): base, 2·base, 4·base, … ≤ cap."""
    return float(min(base * 2 ** min(attempt, 32), cap))


def retry_status(attempt: int, delay: float, at: datetime) -> dict[str, Any]:
    """``status.retry``: which attempt failed, and when the next one is due."""
    due = datetime.fromtimestamp(at.timestamp() + delay, UTC)
    return {
        "attempt": attempt,
        "delaySeconds": delay,
        "nextAttemptAt": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def retry_pending(status: dict[str, Any], at: datetime) -> bool:
    """Whether ``status.retry`` schedules the next attempt after ``at``."""
    due = (status.get("retry") or {}).get("nextAttemptAt")
    if not due:
        return False
    return datetime.strptime(due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > at
