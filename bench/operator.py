"""Operator latencies on a real kube-apiserver + etcd and the local RabbitMQ.

    python bench/operator.py [--tenants 10] [--burst 10] [--pods 30]

- apply → children: ScrmTenant created → all 9 children exist (ConfigMap, ServiceAccount,
  NetworkPolicy, Job, 2 Services, 2 Deployments, HPA), and → ``status.observedGeneration``
  written. Sequential (one at a time), then a burst of tenants created together.
- drift: a hand-edited Service selector → restored by the operator (through its watch on
  the tenant's children; the resync timer is 60 s here).
- pod delete → queue gone: a ws Pod object whose queue has a live consumer (as a running
  ws pod's would, so only the pod-deletion path can remove it) is deleted; the management
  API is polled every 5 ms until the queue is gone.

Uses the binaries of e2e/controlplane/build.sh (or KUBEBUILDER_ASSETS) and
SCRM_TEST_AMQP_URL / SCRM_TEST_RABBITMQ_API (defaults: the local test services).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]
os.environ.setdefault("SCRM_OPERATOR_RESYNC_SECONDS", "60")
os.environ.setdefault("SCRM_OPERATOR_GC_SECONDS", "60")

import aio_pika  # noqa: E402
from kubernetes import config  # noqa: E402
from scrm_operator import names  # noqa: E402
from scrm_operator.kube import Kube  # noqa: E402
from scrm_operator.rabbitmq import Broker, RabbitAdmin  # noqa: E402

from tests.operator.controlplane import ControlPlane, binaries_dir  # noqa: E402
from tests.operator.e2e.harness import Cluster, Operator, eventually, tenant_manifest  # noqa: E402
from tests.services import AMQP_URL, RABBITMQ_API  # noqa: E402

CHILDREN = [
    ("v1", "ConfigMap", "{t}-config"),
    ("v1", "ServiceAccount", "{t}-runtime"),
    ("networking.k8s.io/v1", "NetworkPolicy", "{t}-runtime"),
    ("v1", "Service", "{t}-api"),
    ("v1", "Service", "{t}-ws"),
    ("apps/v1", "Deployment", "{t}-api"),
    ("apps/v1", "Deployment", "{t}-ws"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "{t}-ws"),
]


def summary(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    line = (
        f"{label:<44} n={len(ms):<3} p50={statistics.median(ms):7.1f} ms  "
        f"p95={p95:7.1f} ms  max={ms[-1]:7.1f} ms"
    )
    # KopfRunner (click's CliRunner) swaps sys.stdout while the operator runs.
    print(line, file=sys.__stdout__, flush=True)


def children_exist(cluster: Cluster, ns: str, t: str) -> bool:
    if any(cluster.kube.get(v, k, ns, n.format(t=t)) is None for v, k, n in CHILDREN):
        return False
    return bool(cluster.kube.list("batch/v1", "Job", ns, f"{names.TENANT_LABEL}={t}"))


def apply_one(cluster: Cluster, ns: str, t: str) -> tuple[float, float]:
    """Seconds until the children exist, and until the status was written."""
    started = time.monotonic()
    cluster.create(tenant_manifest(ns, t))
    eventually(lambda: children_exist(cluster, ns, t), "children", within=60, interval=0.005)
    children = time.monotonic() - started
    eventually(lambda: cluster.status(ns, t).get("observedGeneration") == 1, "status", 60, 0.005)
    return children, time.monotonic() - started


def bench_apply(cluster: Cluster, ns: str, count: int, burst: int) -> None:
    results = [apply_one(cluster, ns, f"b-{secrets.token_hex(3)}") for _ in range(count)]
    children, statuses = [r[0] for r in results], [r[1] for r in results]
    summary("apply -> all children exist (sequential)", children)
    summary("apply -> status.observedGeneration (seq.)", statuses)

    tenants = [f"c-{secrets.token_hex(3)}" for _ in range(burst)]
    started = time.monotonic()
    for t in tenants:
        cluster.create(tenant_manifest(ns, t))
    done: dict[str, float] = {}

    def all_reconciled() -> bool:
        for t in tenants:
            if t not in done and cluster.status(ns, t).get("observedGeneration") == 1:
                done[t] = time.monotonic() - started
        return len(done) == len(tenants)

    eventually(all_reconciled, "the burst", within=300)
    summary(f"burst of {burst}: apply -> status (each)", list(done.values()))


def bench_drift(cluster: Cluster, ns: str, count: int) -> None:
    """A hand-edited Service selector, repaired through the watch (the resync is 60 s)."""
    t = f"d-{secrets.token_hex(3)}"
    cluster.create(tenant_manifest(ns, t))
    eventually(lambda: cluster.status(ns, t).get("observedGeneration") == 1, "the tenant")

    def selector() -> dict[str, str]:
        service = cluster.kube.get("v1", "Service", ns, f"{t}-api") or {}
        result: dict[str, str] = service["spec"]["selector"]
        return result

    wanted, samples = selector(), []
    for i in range(count):
        patch = {"spec": {"selector": {"app": f"hijack-{i}"}}}
        started = time.monotonic()
        cluster.merge_patch("v1", "Service", ns, f"{t}-api", patch)
        eventually(lambda: selector() == wanted, "the repair", interval=0.005)
        samples.append(time.monotonic() - started)
    summary("hand-edited Service -> repaired", samples)


def queue_gone(admin: RabbitAdmin, vhost: str, name: str) -> bool:
    return name not in {q["name"] for q in admin.queues(vhost)}


async def bench_pod_queues(cluster: Cluster, ns: str, count: int, admin: RabbitAdmin) -> None:
    t = f"p-{secrets.token_hex(3)}"
    cluster.create(tenant_manifest(ns, t))
    secret = eventually(lambda: cluster.kube.secret_data(ns, f"{t}-rabbitmq"), "secret", 60)
    vhost = names.external_name(ns, t)
    latencies = []
    connection = await aio_pika.connect(secret["amqpUrl"])
    async with connection:
        channel = await connection.channel()
        for i in range(count):
            pod = f"{t}-ws-{i}"
            cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": pod,
                        "namespace": ns,
                        "labels": {**names.WS_POD_LABELS, names.TENANT_LABEL: t},
                    },
                    "spec": {"containers": [{"name": "ws", "image": "scrm:bench"}]},
                }
            )
            queue = await channel.declare_queue(f"scrm.{t}.ws.{pod}", durable=True)
            await queue.consume(lambda message: message.ack())
            cluster.kube.delete("v1", "Pod", ns, pod)
            started = time.monotonic()
            eventually(partial(queue_gone, admin, vhost, queue.name), "queue deletion", 10, 0.005)
            latencies.append(time.monotonic() - started)
    summary("pod delete -> queue gone", latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--drifts", type=int, default=20)
    args = parser.parse_args()

    amqp_url = os.environ.get("SCRM_TEST_AMQP_URL", AMQP_URL)
    api_url = os.environ.get("SCRM_TEST_RABBITMQ_API", RABBITMQ_API)
    plane = ControlPlane(Path(tempfile.mkdtemp(prefix="scrm-bench-")), binaries_dir())
    plane.start()
    try:
        cluster = Cluster(Kube(config.new_client_from_config(str(plane.kubeconfig))))
        for path in sorted((REPO / "crds").glob("*.yaml")):
            cluster.install(path)
        eventually(cluster.crds_established, "the CRDs to be established")
        ns = "bench"
        cluster.namespace(ns)
        cluster.secret(ns, "broker", {"managementUrl": api_url, "amqpUrl": amqp_url})
        cluster.secret(ns, "db", {"url": "postgresql+asyncpg://unused@127.0.0.1/unused"})
        cluster.secret(ns, "whatsapp", {"appSecret": "a", "verifyToken": "v"})
        operator = Operator(plane.kubeconfig)
        operator.start()
        broker = Broker.from_secret({"managementUrl": api_url, "amqpUrl": amqp_url})
        try:
            with RabbitAdmin(broker) as admin:
                bench_apply(cluster, ns, args.tenants, args.burst)
                bench_drift(cluster, ns, args.drifts)
                asyncio.run(bench_pod_queues(cluster, ns, args.pods, admin))
        finally:
            cluster.delete_all(ns, "ScrmTenant")  # the operator removes the vhosts
            operator.stop()
    finally:
        plane.stop()


if __name__ == "__main__":
    main()
