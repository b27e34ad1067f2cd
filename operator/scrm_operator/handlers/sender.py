"""Sender: validate and publish on create/update/resume and on a timer (quality and tier
change on Meta's side); withdraw on delete. A phone number belongs to the Sender that named
it first (an index of all Senders by number)."""

from __future__ import annotations

from typing import Any

import httpx
import kopf

from scrm_operator import names
from scrm_operator.conditions import Outcome
from scrm_operator.config import CONFIG
from scrm_operator.handlers.status import deletion_waits, due, record_pass, snapshot
from scrm_operator.reconcilers.sender import (
    Claim,
    SenderSpec,
    duplicate,
    first_claim,
    reconcile_sender,
    withdraw_sender,
)

SENDERS = (names.GROUP, names.VERSION, names.SENDERS)


@kopf.index(*SENDERS)
def senders_by_number(
    namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[str, Claim]:
    """phoneNumberId -> the Senders that name it, with when they were created."""
    return {spec["phoneNumberId"]: Claim(meta["creationTimestamp"], namespace or "", name)}


@kopf.on.create(*SENDERS)
@kopf.on.update(*SENDERS)
@kopf.on.resume(*SENDERS)
def publish(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    seen = snapshot(body)
    outcome = _reconcile(memo, seen, kwargs["senders_by_number"])
    record_pass(patch, seen, outcome, memo, fresh=True)


@kopf.timer(*SENDERS, interval=CONFIG.tick_seconds, initial_delay=CONFIG.tick_seconds)
def refresh(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Retries on the backoff schedule, and re-validation (quality and tier change)."""
    seen = snapshot(body)
    if due(seen, memo):
        outcome = _reconcile(memo, seen, kwargs["senders_by_number"])
        record_pass(patch, seen, outcome, memo, fresh=False)


def _reconcile(memo: kopf.Memo, body: kopf.Body, claims: kopf.Index[str, Claim]) -> Outcome:
    """A number named by an earlier Sender is reported here and never published."""
    sender = SenderSpec.from_resource(body)
    first = _owner(sender, claims)
    if first is not None:
        return duplicate(sender, first)
    return reconcile_sender(memo.kube, sender, CONFIG.policy)


def _owner(sender: SenderSpec, claims: kopf.Index[str, Claim]) -> Claim | None:
    """The earlier Sender of this number, when it is not this one."""
    first = first_claim(list(claims.get(sender.phone_number_id, [])))
    if first is None or (first.namespace, first.name) == (sender.namespace, sender.name):
        return None
    return first


@kopf.on.delete(*SENDERS, backoff=CONFIG.retry_seconds)
def withdraw(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """The finalizer stays until the runtime confirmed the withdrawal (or the tenant is
    gone); meanwhile status and a Warning Event say why, retried at a constant delay. A
    duplicate withdraws nothing: the number is its first Sender's."""
    seen = snapshot(body)
    sender = SenderSpec.from_resource(seen)
    if _owner(sender, kwargs["senders_by_number"]) is not None:
        return
    try:
        withdraw_sender(memo.kube, sender, CONFIG.policy)
    except httpx.HTTPError as exc:
        cause = f"{type(exc).__name__}: {exc}"
        deletion_waits(patch, seen, "FailedWithdrawal", f"waiting to withdraw the number: {cause}")
