"""ScrmTenant: reconcile on create/update/resume and on a timer; clean RabbitMQ on delete."""

from __future__ import annotations

import threading
from typing import Any

import kopf

from scrm_operator import names
from scrm_operator.config import CONFIG
from scrm_operator.handlers.status import record, record_or_retry, snapshot
from scrm_operator.reconcilers.tenant import reconcile_tenant
from scrm_operator.reconcilers.topology import BrokerSecretMissing, delete_topology
from scrm_operator.spec import TenantSpec

TENANTS = (names.GROUP, names.VERSION, names.TENANTS)


_LOCKS_GUARD = threading.Lock()


def _tenant_lock(memo: kopf.Memo, uid: str) -> threading.Lock:
    """One pass at a time per tenant: the timer and the change handlers run in threads, and
    a timer pass still applying an older spec could otherwise undo a newer one."""
    with _LOCKS_GUARD:
        locks: dict[str, threading.Lock] = memo.setdefault("tenant_locks", {})
        return locks.setdefault(uid, threading.Lock())


@kopf.on.create(*TENANTS)
@kopf.on.update(*TENANTS)
@kopf.on.resume(*TENANTS)
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    seen = snapshot(body)
    with _tenant_lock(memo, seen["metadata"]["uid"]):
        outcome = reconcile_tenant(memo.kube, TenantSpec.from_resource(seen))
    record_or_retry(patch, seen, outcome, CONFIG.retry_seconds)


@kopf.timer(*TENANTS, interval=CONFIG.resync_seconds, initial_delay=CONFIG.resync_seconds)
def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Level-based repair: re-apply (a no-op when nothing drifted) and refresh status.
    Skipped when the spec changed since this timer's copy: the change handler applies it."""
    seen = snapshot(body)
    meta = seen["metadata"]
    with _tenant_lock(memo, meta["uid"]):
        current = memo.kube.get(names.API_VERSION, "ScrmTenant", meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("generation") != meta.get("generation"):
            return
        outcome = reconcile_tenant(memo.kube, TenantSpec.from_resource(seen))
    record(patch, seen, outcome)


@kopf.on.delete(*TENANTS)
def cleanup(
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Children go with the owner (garbage collector); the broker objects are ours to drop."""
    try:
        secret = spec["rabbitmq"]["secretRef"]["name"]
        delete_topology(memo.kube, namespace or "", name, secret)
    except BrokerSecretMissing as exc:
        logger.warning(f"RabbitMQ objects left behind: {exc}")
