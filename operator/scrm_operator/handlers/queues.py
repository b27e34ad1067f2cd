"""ws pod queues: delete a pod's queue when the pod is gone; collect orphans on a timer.

The DELETED watch event is used rather than ``on.delete``: it fires when the pod object is
really gone (after its grace period, or at once for a pod that was never scheduled), and it
needs no finalizer on pods. Events missed while the operator was down are covered by the
garbage collector, which compares the broker's queues with the pod index.
"""

from __future__ import annotations

from typing import Any

import kopf

from scrm_operator import names
from scrm_operator.config import CONFIG
from scrm_operator.rabbitmq import RabbitAdmin
from scrm_operator.reconcilers.queues import collect_orphans, delete_pod_queue, tenant_vhost
from scrm_operator.reconcilers.topology import broker_for

PODS = ("", "v1", "pods")


@kopf.index(*PODS, labels=names.WS_POD_LABELS)
def ws_pods(
    namespace: str | None, name: str, labels: kopf.Labels, **_: Any
) -> dict[tuple[str, str], str]:
    """(namespace, tenant) -> names of the tenant's live ws pods."""
    return {(namespace or "", labels.get(names.TENANT_LABEL, "")): name}


@kopf.index(names.GROUP, names.VERSION, names.TENANTS)
def tenant_brokers(
    namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], tuple[str, str]]:
    """(namespace, tenant) -> (name of the Secret describing its broker, its vhost)."""
    vhost = tenant_vhost(namespace or "", name, status)
    return {(namespace or "", name): (spec["rabbitmq"]["secretRef"]["name"], vhost)}


@kopf.on.event(*PODS, labels=names.WS_POD_LABELS)
def pod_gone(
    type: str,
    namespace: str | None,
    name: str,
    labels: kopf.Labels,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    brokers: kopf.Index[tuple[str, str], tuple[str, str]] = kwargs["tenant_brokers"]
    tenant, ns = labels.get(names.TENANT_LABEL, ""), namespace or ""
    if type != "DELETED" or not tenant:
        return
    for secret, vhost in brokers.get((ns, tenant), []):
        with RabbitAdmin(broker_for(memo.kube, ns, secret)) as admin:
            if delete_pod_queue(admin, vhost, tenant, name):
                logger.info(f"deleted the queue of ws pod {name}")


@kopf.timer(names.GROUP, names.VERSION, names.TENANTS, interval=CONFIG.gc_seconds)
def collect_orphan_queues(
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    status: kopf.Status,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    pods: kopf.Index[tuple[str, str], str] = kwargs["ws_pods"]
    ns = namespace or ""
    live = set(pods.get((ns, name), []))
    broker = broker_for(memo.kube, ns, spec["rabbitmq"]["secretRef"]["name"])
    with RabbitAdmin(broker) as admin:
        for queue in collect_orphans(admin, tenant_vhost(ns, name, status), name, live):
            logger.info(f"deleted orphan queue {queue}")
