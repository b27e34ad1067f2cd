"""ScrmTenant: reconcile on create/update/resume and on a timer; clean RabbitMQ on delete."""

from __future__ import annotations

from typing import Any

import kopf

from scrm_operator import names
from scrm_operator.config import CONFIG
from scrm_operator.handlers.status import record, record_or_retry
from scrm_operator.reconcilers.tenant import reconcile_tenant
from scrm_operator.reconcilers.topology import BrokerSecretMissing, delete_topology
from scrm_operator.spec import TenantSpec

TENANTS = (names.GROUP, names.VERSION, names.TENANTS)


@kopf.on.create(*TENANTS)
@kopf.on.update(*TENANTS)
@kopf.on.resume(*TENANTS)
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    outcome = reconcile_tenant(memo.kube, TenantSpec.from_resource(body))
    record_or_retry(patch, body, outcome, CONFIG.retry_seconds)


@kopf.timer(*TENANTS, interval=CONFIG.resync_seconds, initial_delay=CONFIG.resync_seconds)
def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Level-based repair: re-apply (a no-op when nothing drifted) and refresh status."""
    record(patch, body, reconcile_tenant(memo.kube, TenantSpec.from_resource(body)))


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
