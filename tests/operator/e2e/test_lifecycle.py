"""Retries and deletion against the real API server and RabbitMQ: a failing tenant backs
off (and its deletion does not wait for the backoff), a deletion the broker blocks says so,
and deleting a namespace leaves no broker credentials that still log in."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import aio_pika
from scrm_operator import names
from scrm_operator.rabbitmq import RabbitAdmin

from tests.operator.controlplane import free_port
from tests.operator.e2e.harness import (
    Cluster,
    Operator,
    eventually,
    failed_with,
    tenant_manifest,
    warned,
)
from tests.services import require_rabbitmq


def gone(cluster: Cluster, ns: str, t: str) -> bool:
    return cluster.tenant(ns, t) is None


def test_a_failing_tenant_backs_off_exponentially_and_deletion_does_not_wait(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    """SCRM_OPERATOR_RETRY_SECONDS is 1 in the tests: attempts 1, 2, 3, 4 wait 1, 2, 4, 8 s."""
    t = f"boff-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t, rabbitmq={"secretRef": {"name": "missing"}}))
    delays: dict[int, float] = {}

    def fourth_attempt() -> bool:
        retry = cluster.status(namespace, t).get("retry") or {}
        if retry:
            delays[retry["attempt"]] = retry["delaySeconds"]
            due = datetime.strptime(retry["nextAttemptAt"], "%Y-%m-%dT%H:%M:%SZ")
            ahead = due.replace(tzinfo=UTC).timestamp() - datetime.now(UTC).timestamp()
            assert ahead <= retry["delaySeconds"] + 1
        return retry.get("attempt", 0) >= 4

    eventually(fourth_attempt, "a fourth failed attempt", within=30)
    assert all(delay == 2 ** (attempt - 1) for attempt, delay in delays.items()), delays
    assert len(delays) >= 3, delays  # attempts seen one by one, not a constant delay
    ready = cluster.ready(namespace, t)
    assert (ready["status"], ready["reason"]) == ("False", "FailedConfiguration")
    assert "missing" in ready["message"]

    assert cluster.kube.delete(names.API_VERSION, "ScrmTenant", namespace, t)
    eventually(lambda: gone(cluster, namespace, t), "deletion during an 8 s backoff", within=5)


def test_a_deletion_blocked_by_rabbitmq_says_why_and_completes_once_it_answers(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    t = f"down-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    vhost = eventually(
        lambda: (cluster.status(namespace, t).get("rabbitmq") or {}).get("vhost"), "the vhost"
    )
    _, api_url = require_rabbitmq()
    dead = f"http://scrm:scrm@127.0.0.1:{free_port()}"  # nothing listens there
    patch = {"stringData": {"managementUrl": dead}}
    cluster.merge_patch("v1", "Secret", namespace, "broker", patch)

    assert cluster.kube.delete(names.API_VERSION, "ScrmTenant", namespace, t)
    ready = failed_with(cluster, namespace, t, "FailedDeletion")
    assert "RabbitMQ" in ready["message"] and "ConnectError" in ready["message"]
    assert "RabbitMQ" in warned(cluster, namespace, t, "FailedDeletion")["message"]
    body = cluster.tenant(namespace, t)
    assert body is not None and body["metadata"].get("deletionTimestamp")
    assert cluster.status(namespace, t)["phase"] == "Failed"

    cluster.merge_patch(
        "v1", "Secret", namespace, "broker", {"stringData": {"managementUrl": api_url}}
    )
    eventually(lambda: gone(cluster, namespace, t), "the deletion to complete")
    assert rabbit.vhost_description(vhost) is None


async def _logs_in(url: str) -> bool:
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except Exception:  # refused credentials or vhost: what the test is after
        return False
    await connection.close()
    return True


def logs_in(url: str) -> bool:
    return asyncio.run(_logs_in(url))


def test_namespace_deletion_leaves_no_broker_credentials_that_log_in(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    """A namespace controller deletes everything at once, the broker Secret possibly first:
    the operator's finalizer keeps it until the last tenant removed its broker user."""
    tenants = [f"nsdel-{secrets.token_hex(2)}" for _ in range(2)]
    for t in tenants:
        cluster.create(tenant_manifest(namespace, t))
    urls = [
        eventually(
            lambda t=t: (cluster.kube.secret_data(namespace, f"{t}-rabbitmq") or {}).get("amqpUrl"),
            "the tenant's AMQP URL",
        )
        for t in tenants
    ]
    assert all(logs_in(url) for url in urls)
    eventually(
        lambda: (
            names.BROKER_FINALIZER
            in (cluster.kube.get("v1", "Secret", namespace, "broker") or {})["metadata"].get(
                "finalizers", []
            )
        ),
        "the broker Secret to be held",
    )

    # Play the namespace controller: the Secrets go first.
    for secret in ("broker", *(f"{t}-rabbitmq" for t in tenants)):
        cluster.kube.delete("v1", "Secret", namespace, secret)
    cluster.kube.delete(names.API_VERSION, "ScrmTenant", namespace, tenants[0])
    eventually(lambda: gone(cluster, namespace, tenants[0]), "the first tenant to go")
    assert not logs_in(urls[0])
    held = cluster.kube.get("v1", "Secret", namespace, "broker")
    assert held is not None, "the broker Secret went while another tenant still needs it"

    cluster.kube.delete(names.API_VERSION, "ScrmTenant", namespace, tenants[1])
    eventually(lambda: gone(cluster, namespace, tenants[1]), "the second tenant to go")
    eventually(
        lambda: cluster.kube.get("v1", "Secret", namespace, "broker") is None,
        "the broker Secret to be released",
    )
    assert not logs_in(urls[1])


def _tenant_pod(namespace: str, t: str, component: str) -> dict[str, Any]:
    """A pod as a tenant's ReplicaSet makes it, held by a finalizer of the test's: a bare
    API server has no kubelet, so the test decides when it has stopped."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{t}-{component}-0",
            "namespace": namespace,
            "labels": {names.TENANT_LABEL: t, names.COMPONENT: component},
            "finalizers": [HELD],
        },
        "spec": {
            "nodeName": "e2e-node",  # bound (no scheduler here): its containers would run
            "terminationGracePeriodSeconds": 60,
            "containers": [{"name": "main", "image": "ghcr.io/scrm/scrm:0.1.0"}],
        },
    }


HELD = "e2e.scrm.io/still-running"


def _wait_left(message: str) -> int:
    """The seconds a ``Terminating`` message says the deletion may still wait."""
    found = re.search(r"at most (-?\d+) s more", message)
    assert found, message
    return int(found.group(1))


def test_the_vhost_outlives_the_deployments_until_the_pods_are_gone(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    """Deletion order: the operator deletes the tenant's Deployments (nothing else would:
    a bare API server has no garbage collector) and keeps the vhost and user while a pod of
    the tenant still runs; once it is gone they are removed and the tenant goes."""
    t = f"order-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    vhost = eventually(
        lambda: (cluster.status(namespace, t).get("rabbitmq") or {}).get("vhost"), "the vhost"
    )
    selector = f"{names.TENANT_LABEL}={t}"
    eventually(
        lambda: len(cluster.kube.list("apps/v1", "Deployment", namespace, selector)) == 3,
        "the tenant's 3 Deployments",
    )
    pod = _tenant_pod(namespace, t, "ws")
    cluster.kube.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=pod)

    assert cluster.kube.delete(names.API_VERSION, "ScrmTenant", namespace, t)
    eventually(
        lambda: not cluster.kube.list("apps/v1", "Deployment", namespace, selector),
        "the operator to delete the Deployments",
    )
    eventually(lambda: not cluster.kube.list("batch/v1", "Job", namespace, selector), "the Job")
    ready = eventually(
        lambda: (
            cluster.ready(namespace, t).get("reason") == "Terminating"
            and cluster.ready(namespace, t)
        ),
        "Ready=False/Terminating",
    )
    assert pod["metadata"]["name"] in ready["message"]
    assert cluster.status(namespace, t)["phase"] == "Progressing"
    assert not [e for e in cluster.events(namespace, t) if e["type"] == "Warning"]
    # Later passes (each says how much longer it may wait) still find the pod running, so
    # the vhost is still there.
    first = _wait_left(ready["message"])
    eventually(
        lambda: _wait_left(cluster.ready(namespace, t)["message"]) <= first - 4,
        "later deletion passes",
        within=20,
    )
    assert rabbit.vhost_description(vhost) == names.owner_tag(namespace, t)
    assert cluster.tenant(namespace, t) is not None

    # The pod stops (its deletion completes): the broker objects go, then the tenant.
    path = f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}"
    cluster.kube.request("DELETE", path, body={"gracePeriodSeconds": 0})
    cluster.kube.request(
        "PATCH",
        path,
        body={"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    eventually(lambda: gone(cluster, namespace, t), "the tenant to go once its pod is gone")
    assert rabbit.vhost_description(vhost) is None
