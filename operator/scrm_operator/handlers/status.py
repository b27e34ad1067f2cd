"""Writing an :class:`Outcome` into kopf's patch, and turning ``retry`` into kopf's retry."""

from __future__ import annotations

import kopf

from scrm_operator.conditions import Outcome, ready_patch


def record(patch: kopf.Patch, body: kopf.Body, outcome: Outcome) -> None:
    generation: int = body["metadata"].get("generation", 0)
    patch.fns.append(ready_patch(outcome.condition, generation, outcome.fields))


def record_or_retry(patch: kopf.Patch, body: kopf.Body, outcome: Outcome, delay: float) -> None:
    """For create/update/resume: record, then let kopf retry while the outcome asks to."""
    record(patch, body, outcome)
    if outcome.retry:
        raise kopf.TemporaryError(outcome.condition.message, delay=delay)
