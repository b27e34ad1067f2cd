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


@dataclass(frozen=True)
class Condition:
    status: Status
    reason: str
    message: str

    @property
    def phase(self) -> str:
        if self.status == "True":
            return "Ready"
        return "Failed" if self.reason.startswith("Failed") else "Progressing"


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
    """A ``patch.fns`` function: Ready condition, phase, observedGeneration and ``fields``."""
    timestamp = now()

    def apply(body: Any) -> None:
        status = body.setdefault("status", {})
        status["conditions"] = upsert(
            status.get("conditions") or [], "Ready", condition, generation, timestamp
        )
        status["observedGeneration"] = generation
        status["phase"] = condition.phase
        status.update(fields or {})

    return apply
