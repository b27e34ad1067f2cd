"""Retries and deletion against the real API server and RabbitMQ: a failing tenant backs
off (and its deletion does not wait for the backoff), a deletion the broker blocks says so,
and deleting a namespace leaves no broker credentials that still log in."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

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
