"""ScrmTenant against a real API server and RabbitMQ: children, status, spec changes,
operator restarts, deletion."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from scrm_operator import names
from scrm_operator.rabbitmq import Broker, RabbitAdmin, tenant_pattern

from tests.operator.e2e.harness import (
    Cluster,
    Operator,
    eventually,
    mark_children_ready,
    tenant_manifest,
    wait_reconciled,
)
from tests.services import require_postgres, require_rabbitmq

CHILDREN = [
    ("v1", "ConfigMap", "{t}-config"),
    ("v1", "ServiceAccount", "{t}-runtime"),
    ("v1", "Service", "{t}-api"),
    ("v1", "Service", "{t}-ws"),
    ("apps/v1", "Deployment", "{t}-api"),
    ("apps/v1", "Deployment", "{t}-ws"),
    ("apps/v1", "Deployment", "{t}-sender-worker"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "{t}-ws"),
    ("networking.k8s.io/v1", "NetworkPolicy", "{t}-runtime"),
    ("v1", "Secret", "{t}-keys"),
    ("v1", "Secret", "{t}-rabbitmq"),
]


@pytest.fixture
def rabbit() -> Iterator[RabbitAdmin]:
    amqp_url, api_url = require_rabbitmq()
    with RabbitAdmin(Broker.from_secret({"managementUrl": api_url, "amqpUrl": amqp_url})) as a:
        yield a


def children_of(cluster: Cluster, ns: str, t: str) -> dict[str, dict[str, Any]]:
    found = {}
    for api_version, kind, pattern in CHILDREN:
        name = pattern.format(t=t)
        body = cluster.kube.get(api_version, kind, ns, name)
        assert body is not None, f"{kind} {name} missing"
        found[f"{kind}/{name}"] = body
    (job,) = cluster.kube.list("batch/v1", "Job", ns, f"{names.TENANT_LABEL}={t}")
    found["Job/migrate"] = job
    return found


def test_tenant_gets_children_rabbitmq_and_status(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    t = f"acme-{secrets.token_hex(2)}"
    tenant = cluster.create(tenant_manifest(namespace, t))
    ready = eventually(
        lambda: (
            cluster.ready(namespace, t).get("observedGeneration") == 1
            and cluster.ready(namespace, t)
        ),
        "the first reconcile",
    )
    assert (ready["status"], ready["reason"]) == ("False", "Progressing")
    assert ready["message"] == "waiting for migration, api, ws, sender-worker"

    found = children_of(cluster, namespace, t)
    for key, child in found.items():
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "ScrmTenant",
            t,
            tenant["metadata"]["uid"],
        ), key
        assert owner["controller"] is True
        assert child["metadata"]["labels"][names.TENANT_LABEL] == t, key
    ws = found[f"Deployment/{t}-ws"]["spec"]["template"]["spec"]
    assert ws["terminationGracePeriodSeconds"] == 60  # the CRD default
    assert {
        "name": "POD_NAME",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
    } in ws["containers"][0]["env"]
    assert found[f"Deployment/{t}-api"]["spec"]["replicas"] == 2
    assert found[f"ConfigMap/{t}-config"]["data"]["SCRM_DELIVERY_MODE"] == "fanout"
    sender_worker = found[f"Deployment/{t}-sender-worker"]["spec"]
    assert sender_worker["replicas"] == 2  # the CRD default
    assert sender_worker["template"]["spec"]["containers"][0]["args"] == ["sender-worker"]
    assert found[f"ConfigMap/{t}-config"]["data"]["SCRM_OUTBOUND_WORK"] == "false"
    hpa = found[f"HorizontalPodAutoscaler/{t}-ws"]["spec"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"

    status = cluster.status(namespace, t)
    vhost = f"scrm.{namespace}.{t}"
    assert status["rabbitmq"] == {"vhost": vhost, "user": vhost, "exchange": f"scrm.{t}.fanout"}
    assert status["endpoints"]["api"] == f"http://{t}-api.{namespace}.svc:8000"
    assert status["phase"] == "Progressing"
    assert f"scrm.{t}.fanout" in rabbit.exchanges(vhost)

    # The tenant's own user: no management tag, rights on scrm.<tenant>.* of its vhost only.
    amqp = cluster.kube.secret_data(namespace, f"{t}-rabbitmq")
    assert amqp is not None and amqp["amqpUrl"].endswith(f"/{vhost}")
    base, auth = rabbit_api()
    assert httpx.get(f"{base}/users/{vhost}", auth=auth).json()["tags"] in ([], "")
    perms = httpx.get(f"{base}/permissions/{vhost}/{amqp['user']}", auth=auth).json()
    pattern = tenant_pattern(t)
    assert (perms["configure"], perms["write"], perms["read"]) == (pattern, pattern, pattern)

    mark_children_ready(cluster, namespace, t)
    ready = eventually(
        lambda: cluster.ready(namespace, t).get("status") == "True" and cluster.ready(namespace, t),
        "Ready=True after the children became available",
    )
    assert ready["reason"] == "Available"
    assert cluster.status(namespace, t)["phase"] == "Ready"


def rabbit_api() -> tuple[str, tuple[str, str]]:
    broker = Broker.from_secret({"managementUrl": require_rabbitmq()[1], "amqpUrl": ""})
    return broker.management_url + "/api", (broker.username, broker.password)


def test_spec_change_updates_children_and_switches_the_exchange(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    t = f"beta-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    before = children_of(cluster, namespace, t)
    old_hash = before[f"Deployment/{t}-ws"]["spec"]["template"]["metadata"]["annotations"]

    autoscaling = {"metric": "connections", "targetConnectionsPerPod": 500, "maxReplicas": 4}
    patch = {
        "spec": {
            "deliveryMode": "routed",
            "api": {"replicas": 3},
            "ws": {"autoscaling": autoscaling},
            "image": {"tag": "2.0.0"},
        }
    }
    cluster.merge_patch(names.API_VERSION, "ScrmTenant", namespace, t, patch)
    wait_reconciled(cluster, namespace, t, 2)

    after = children_of(cluster, namespace, t)
    assert after[f"ConfigMap/{t}-config"]["data"]["SCRM_DELIVERY_MODE"] == "routed"
    api = after[f"Deployment/{t}-api"]["spec"]
    assert api["replicas"] == 3
    assert api["template"]["spec"]["containers"][0]["image"] == "ghcr.io/scrm/scrm:2.0.0"
    ws_template = after[f"Deployment/{t}-ws"]["spec"]["template"]
    assert ws_template["metadata"]["annotations"] != old_hash  # the pods roll
    hpa = after[f"HorizontalPodAutoscaler/{t}-ws"]["spec"]
    assert hpa["maxReplicas"] == 4
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "500"
    # A new image means a new migration Job; the old one is pruned.
    assert after["Job/migrate"]["metadata"]["name"] != before["Job/migrate"]["metadata"]["name"]
    vhost = f"scrm.{namespace}.{t}"
    exchanges = rabbit.exchanges(vhost)
    assert f"scrm.{t}.routed" in exchanges
    assert f"scrm.{t}.fanout" not in exchanges  # nothing was bound to it any more
    assert cluster.status(namespace, t)["rabbitmq"]["exchange"] == f"scrm.{t}.routed"

    cluster.merge_patch(
        names.API_VERSION,
        "ScrmTenant",
        namespace,
        t,
        {"spec": {"ws": {"autoscaling": {"enabled": False}, "replicas": 5}}},
    )
    wait_reconciled(cluster, namespace, t, 3)
    assert (
        cluster.kube.get("autoscaling/v2", "HorizontalPodAutoscaler", namespace, f"{t}-ws") is None
    )
    ws = cluster.kube.get("apps/v1", "Deployment", namespace, f"{t}-ws")
    assert ws is not None and ws["spec"]["replicas"] == 5


def test_operator_restart_repairs_drift_and_changes_nothing_else(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    t = f"gamma-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    first = eventually(lambda: cluster.ready(namespace, t).get("lastTransitionTime"), "status")
    versions = {
        k: v["metadata"]["resourceVersion"] for k, v in children_of(cluster, namespace, t).items()
    }

    operator.stop()
    assert cluster.kube.delete("v1", "Service", namespace, f"{t}-ws")  # drift while down
    operator.start()

    eventually(lambda: cluster.kube.get("v1", "Service", namespace, f"{t}-ws"), "ws Service repair")
    after = children_of(cluster, namespace, t)
    changed = {k for k, v in after.items() if versions[k] != v["metadata"]["resourceVersion"]}
    assert changed == {f"Service/{t}-ws"}
    # No duplicates: one of each kind for this tenant.
    selector = f"{names.TENANT_LABEL}={t}"
    assert (
        len(cluster.kube.list("apps/v1", "Deployment", namespace, selector)) == 3
    )  # api, ws, sender-worker
    assert len(cluster.kube.list("batch/v1", "Job", namespace, selector)) == 1
    assert cluster.ready(namespace, t)["lastTransitionTime"] == first


def test_deleting_the_tenant_removes_its_vhost_and_user(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    t = f"delta-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    vhost = f"scrm.{namespace}.{t}"
    assert rabbit.vhost_exists(vhost)

    assert cluster.kube.delete(names.API_VERSION, "ScrmTenant", namespace, t)
    eventually(lambda: cluster.tenant(namespace, t) is None, "the finalizer to be released")
    assert not rabbit.vhost_exists(vhost)
    base, auth = rabbit_api()
    assert httpx.get(f"{base}/users/{vhost}", auth=auth).status_code == 404
    # A bare API server has no garbage collector: the operator deleted the workloads itself
    # (before the vhost); the other children stay, owned by the gone uid.
    selector = f"{names.TENANT_LABEL}={t}"
    assert not cluster.kube.list("apps/v1", "Deployment", namespace, selector)
    assert not cluster.kube.list("batch/v1", "Job", namespace, selector)
    orphan = cluster.kube.get("v1", "Service", namespace, f"{t}-api")
    assert orphan is not None and orphan["metadata"]["ownerReferences"][0]["name"] == t


def test_shared_server_gets_a_tenant_database_and_role(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    base = urlsplit(require_postgres())
    cluster.secret(
        namespace, "pg-admin", {"username": base.username or "", "password": base.password or ""}
    )
    t = f"pg-{secrets.token_hex(2)}"
    shared = {"host": base.hostname, "port": base.port, "adminSecretRef": {"name": "pg-admin"}}
    cluster.create(tenant_manifest(namespace, t, database={"sharedServer": shared}))
    wait_reconciled(cluster, namespace, t, 1)

    data = cluster.kube.secret_data(namespace, f"{t}-database")
    assert data is not None
    ident = names.external_name(namespace, t)
    assert data["url"].endswith(f"/{ident}")

    async def login_as_tenant() -> str:
        conn = await asyncpg.connect("postgresql://" + data["url"].split("://", 1)[1])
        try:
            return str(await conn.fetchval("SELECT current_database()"))
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect("postgresql://" + require_postgres().split("://", 1)[1])
        await admin.execute(f'DROP DATABASE IF EXISTS "{ident}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{ident}"')
        await admin.close()

    try:
        assert asyncio.run(login_as_tenant()) == ident
    finally:
        asyncio.run(drop())
    env = cluster.kube.get("apps/v1", "Deployment", namespace, f"{t}-api")
    assert env is not None
    (container,) = env["spec"]["template"]["spec"]["containers"]
    database_env = next(e for e in container["env"] if e["name"] == "SCRM_DATABASE_URL")
    assert database_env["valueFrom"]["secretKeyRef"] == {"name": f"{t}-database", "key": "url"}
