"""Per-pod queue lifecycle: delete a ws pod's queue when the pod is gone, and collect
queues of pods that disappeared while the operator was not watching."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from runtime.bus import naming
from scrm_operator import names
from scrm_operator.rabbitmq import RabbitAdmin


def delete_pod_queue(admin: RabbitAdmin, vhost: str, tenant: str, pod: str) -> bool:
    """False when the queue did not exist (the pod deleted it on SIGTERM, or never had one)."""
    return admin.delete_queue(vhost, naming.queue_name(tenant, pod))


def orphan_queues(
    queues: list[dict[str, object]], tenant: str, live_pods: Collection[str]
) -> list[str]:
    """Queues of this tenant's ws pods that are not alive and have no consumer.

    A queue with a consumer belongs to a running process even if the pod watch has not
    delivered its pod yet, so it is never collected.
    """
    orphans = []
    for queue in queues:
        name = str(queue["name"])
        parsed = naming.parse_queue_name(name)
        if parsed is None or parsed[0] != tenant or parsed[1] in live_pods:
            continue
        if not queue.get("consumers"):
            orphans.append(name)
    return orphans


def collect_orphans(
    admin: RabbitAdmin, vhost: str, tenant: str, live_pods: Collection[str]
) -> list[str]:
    deleted = []
    for name in orphan_queues(admin.queues(vhost), tenant, live_pods):
        if admin.delete_queue(vhost, name):
            deleted.append(name)
    return deleted


def tenant_vhost(namespace: str, tenant: str, status: Mapping[str, Any]) -> str:
    """The vhost the tenant's status records (kept from its creation), else its name."""
    recorded = (status.get("rabbitmq") or {}).get("vhost")
    return str(recorded) if recorded else names.external_name(namespace, tenant)
