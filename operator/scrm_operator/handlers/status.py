"""Writing an :class:`Outcome` into kopf's patch and as Kubernetes Events, and the retry
schedule of failed passes.

A failed pass does not raise kopf's ``TemporaryError``: a create/update handler still
delayed when its object is deleted keeps kopf from releasing the finalizer (the deletion
waited for the delayed attempt). Instead ``status.retry`` records the attempt and when the
next is due, and the objects' timers make the attempts; timers stop at once on deletion."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from scrm_operator.conditions import (
    Condition,
    Outcome,
    backoff_delay,
    ready_patch,
    retry_pending,
    retry_status,
)
from scrm_operator.config import CONFIG

_PASSES_GUARD = threading.Lock()


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


def deletion_waits(
    patch: kopf.Patch, body: kopf.Body, reason: str, message: str, delay: float | None = None
) -> None:
    """For deletion handlers: say why the finalizer stays (status, and a Warning Event for
    a failure) and retry after ``delay``, by default the constant
    ``SCRM_OPERATOR_RETRY_SECONDS``."""
    record(patch, body, Outcome(Condition("False", reason, message[:500]), {}, retry=True))
    raise kopf.TemporaryError(message, delay=CONFIG.retry_seconds if delay is None else delay)


def record_pass(
    patch: kopf.Patch, body: kopf.Body, outcome: Outcome, memo: kopf.Memo, *, fresh: bool
) -> None:
    """Record a pass. A failed one schedules the next attempt in ``status.retry``: after
    ``SCRM_OPERATOR_RETRY_SECONDS``, doubled per failure in a row, at most
    ``SCRM_OPERATOR_RETRY_MAX_SECONDS``; a change (``fresh``) starts counting again."""
    _passes(memo)[body["metadata"]["uid"]] = time.monotonic()
    if not outcome.retry:
        record(patch, body, replace(outcome, fields={**outcome.fields, "retry": None}))
        return
    previous = 0 if fresh else ((body.get("status") or {}).get("retry") or {}).get("attempt", 0)
    delay = backoff_delay(previous, CONFIG.retry_seconds, CONFIG.retry_max_seconds)
    retry = retry_status(previous + 1, delay, datetime.now(UTC))
    record(patch, body, replace(outcome, fields={**outcome.fields, "retry": retry}))


def due(body: kopf.Body, memo: kopf.Memo) -> bool:
    """For the timers (every ``CONFIG.tick_seconds``): a failed object once its next
    attempt is due; any other once ``SCRM_OPERATOR_RESYNC_SECONDS`` passed since its last
    pass (level-based repair and status refresh)."""
    status = dict(body.get("status") or {})
    if status.get("retry"):
        return not retry_pending(status, datetime.now(UTC))
    # Every object gets a pass from its create or resume handler first; until then no timer
    # pass is due.
    last = _passes(memo).get(body["metadata"]["uid"])
    return last is not None and time.monotonic() - last >= CONFIG.resync_seconds


def _passes(memo: kopf.Memo) -> dict[str, float]:
    with _PASSES_GUARD:
        passes: dict[str, float] = memo.setdefault("last_pass", {})
        return passes


def _changed(body: kopf.Body, condition: Condition) -> bool:
    conditions: list[dict[str, Any]] = (body.get("status") or {}).get("conditions") or []
    previous = next((c for c in conditions if c.get("type") == "Ready"), {})
    now = (condition.status, condition.reason, condition.message)
    return (previous.get("status"), previous.get("reason"), previous.get("message")) != now
