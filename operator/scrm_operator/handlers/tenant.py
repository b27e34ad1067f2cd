"""ScrmTenant: reconcile on create/update/resume and on a timer; clean RabbitMQ on delete."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import kopf

from scrm_operator import names
from scrm_operator.config import CONFIG
from scrm_operator.handlers.status import deletion_waits, due, record_pass, snapshot
from scrm_operator.kube import Kube
from scrm_operator.rabbitmq import RabbitError
from scrm_operator.reconcilers.teardown import running_pods, stop_workloads, stopping
from scrm_operator.reconcilers.tenant import reconcile_tenant
from scrm_operator.reconcilers.topology import (
    BrokerSecretMissing,
    delete_topology,
    release_broker_secret,
)
from scrm_operator.spec import TenantSpec

TENANTS = (names.GROUP, names.VERSION, names.TENANTS)
# How often a deletion looks again whether the tenant's pods are gone.
POD_POLL_SECONDS = 2.0


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
        outcome = reconcile_tenant(memo.kube, TenantSpec.from_resource(seen), CONFIG.policy)
    record_pass(patch, seen, outcome, memo, fresh=True)


@kopf.timer(*TENANTS, interval=CONFIG.tick_seconds, initial_delay=CONFIG.tick_seconds)
def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Retries (on the backoff schedule) and level-based repair: re-apply (a no-op when
    nothing drifted) and refresh status. Skipped when the spec changed since this timer's
    copy: the change handler applies it."""
    seen = snapshot(body)
    if not due(seen, memo):
        return
    meta = seen["metadata"]
    with _tenant_lock(memo, meta["uid"]):
        current = memo.kube.get(names.API_VERSION, "ScrmTenant", meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("generation") != meta.get("generation"):
            return
        outcome = reconcile_tenant(memo.kube, TenantSpec.from_resource(seen), CONFIG.policy)
    record_pass(patch, seen, outcome, memo, fresh=False)


def repair(memo: kopf.Memo, namespace: str, name: str, uid: str) -> bool:
    """A pass for a live tenant after drift on one of its children (it also regenerates a
    deleted generated Secret, which rolls the pods). False when the tenant is gone, being
    deleted, or failing: its retries and status stay with its own passes."""
    with _tenant_lock(memo, uid):
        body = memo.kube.get(names.API_VERSION, "ScrmTenant", namespace, name)
        meta = (body or {}).get("metadata") or {}
        if body is None or meta["uid"] != uid or meta.get("deletionTimestamp"):
            return False
        if (body.get("status") or {}).get("retry"):
            return False
        reconcile_tenant(memo.kube, TenantSpec.from_resource(body), CONFIG.policy)
    return True


@kopf.on.delete(*TENANTS, backoff=CONFIG.retry_seconds)
def cleanup(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Stop the pods first, then drop the broker objects; the other
    children go with the owner (garbage collector). While the broker cannot be reached the
    finalizer stays, and status and a Warning Event say why (retried at the constant
    ``SCRM_OPERATOR_RETRY_SECONDS``)."""
    seen = snapshot(body)
    _stop_pods_first(memo.kube, patch, seen)
    meta = seen["metadata"]
    namespace, secret = meta["namespace"], seen["spec"]["rabbitmq"]["secretRef"]["name"]
    try:
        used = delete_topology(memo.kube, namespace, meta["name"], secret)
        with _LOCKS_GUARD:  # the last tenant of a broker Secret lets it go
            finished: set[str] = memo.setdefault("broker_objects_removed", set())
            finished.add(meta["uid"])
            for name in used:
                release_broker_secret(memo.kube, namespace, name, finished)
    except BrokerSecretMissing as exc:
        logger.warning(f"RabbitMQ objects left behind: {exc}")
    except (RabbitError, httpx.HTTPError, OSError) as exc:
        cause = f"{type(exc).__name__}: {exc}"
        message = f"deletion waits for RabbitMQ to remove the tenant's vhost and user: {cause}"
        deletion_waits(patch, seen, "FailedDeletion", message)


def _stop_pods_first(kube: Kube, patch: kopf.Patch, seen: kopf.Body) -> None:
    """Delete the tenant's Deployments and Jobs; while their pods still run (up to their
    grace period and some slack), retry in ``POD_POLL_SECONDS`` with status ``Terminating``:
    a pod shutting down still needs its vhost."""
    meta = seen["metadata"]
    namespace, tenant = meta["namespace"], meta["name"]
    stop_workloads(kube, namespace, tenant, meta["uid"])
    started = datetime.fromisoformat(meta["deletionTimestamp"])
    waiting = stopping(running_pods(kube, namespace, tenant), started, datetime.now(UTC))
    if not waiting.done:
        deletion_waits(patch, seen, "Terminating", waiting.message(), delay=POD_POLL_SECONDS)
