"""Sender: validate and publish on create/update/resume and on a timer (quality and tier
change on Meta's side); withdraw on delete."""

from __future__ import annotations

from typing import Any

import kopf

from scrm_operator import names
from scrm_operator.config import CONFIG
from scrm_operator.handlers.status import record, record_or_retry, snapshot
from scrm_operator.reconcilers.sender import SenderSpec, reconcile_sender, withdraw_sender

SENDERS = (names.GROUP, names.VERSION, names.SENDERS)


@kopf.on.create(*SENDERS)
@kopf.on.update(*SENDERS)
@kopf.on.resume(*SENDERS)
def publish(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    seen = snapshot(body)
    outcome = reconcile_sender(memo.kube, SenderSpec.from_resource(seen))
    record_or_retry(patch, seen, outcome, CONFIG.retry_seconds)


@kopf.timer(*SENDERS, interval=CONFIG.resync_seconds, initial_delay=CONFIG.resync_seconds)
def refresh(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    seen = snapshot(body)
    record(patch, seen, reconcile_sender(memo.kube, SenderSpec.from_resource(seen)))


@kopf.on.delete(*SENDERS, retries=5, backoff=3)
def withdraw(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    withdraw_sender(memo.kube, SenderSpec.from_resource(body))
