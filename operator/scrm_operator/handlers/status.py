"""Writing an :class:`Outcome` into kopf's patch and as Kubernetes Events, and turning
``retry`` into kopf's retry.

The retry delay stays constant: with a doubling delay, the e2e tests saw a deleted object's
finalizer held past 30 s (kopf waited for the delayed handler's next attempt)."""

from __future__ import annotations

from typing import Any, cast

import kopf

from scrm_operator.conditions import Condition, Outcome, ready_patch


def snapshot(body: kopf.Body) -> kopf.Body:
    """The object as it is now. kopf's body is live: it changes under a handler when a new
    version arrives, and a pass must report the generation whose spec it applied."""
    return kopf.Body(cast(kopf.RawBody, dict(body)))


def record(patch: kopf.Patch, body: kopf.Body, outcome: Outcome) -> None:
    """Status (Ready condition, phase, observedGeneration, fields) and, when the Ready
    condition changes, an Event: Warning for a failure, Normal when it becomes Ready."""
    generation: int = body["metadata"].get("generation", 0)
    patch.fns.append(ready_patch(outcome.condition, generation, outcome.fields))
    condition = outcome.condition
    if _changed(body, condition):
        if condition.phase == "Failed":
            kopf.warn(body, reason=condition.reason, message=condition.message)
        elif condition.status == "True":
            kopf.info(body, reason=condition.reason, message=condition.message)


def record_or_retry(patch: kopf.Patch, body: kopf.Body, outcome: Outcome, delay: float) -> None:
    """For create/update/resume: record, then let kopf retry while the outcome asks to."""
    record(patch, body, outcome)
    if outcome.retry:
        raise kopf.TemporaryError(outcome.condition.message, delay=delay)


def _changed(body: kopf.Body, condition: Condition) -> bool:
    conditions: list[dict[str, Any]] = (body.get("status") or {}).get("conditions") or []
    previous = next((c for c in conditions if c.get("type") == "Ready"), {})
    now = (condition.status, condition.reason, condition.message)
    return (previous.get("status"), previous.get("reason"), previous.get("message")) != now
