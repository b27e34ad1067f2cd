"""Failure modes of a tenant against the real API server, RabbitMQ and PostgreSQL: spec edits
that reshape the migration Job, look-alike names, objects that belong to someone else, a
rotated broker administrator. Each ends in a Ready condition naming the cause."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
from scrm_operator import names
from scrm_operator.rabbitmq import Broker, RabbitAdmin

from tests.operator.e2e.harness import (
    Cluster,
    Operator,
    eventually,
    failed_with,
    mark_children_ready,
    tenant_manifest,
    wait_reconciled,
    warned,
)
from tests.services import require_postgres, require_rabbitmq


def migration_jobs(cluster: Cluster, ns: str, t: str) -> list[str]:
    jobs = cluster.kube.list("batch/v1", "Job", ns, f"{names.TENANT_LABEL}={t}")
    return [job["metadata"]["name"] for job in jobs]


def test_an_edit_that_reshapes_the_migration_job_applies_and_ready_follows_the_generation(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    """Only ``deliveryMode`` changes (not the image): the Job template changes, so the Job
    must get a new name, every child must update and Ready must speak of generation 2."""
    t = f"edit-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    mark_children_ready(cluster, namespace, t)
    eventually(lambda: cluster.ready(namespace, t).get("status") == "True", "Ready=True")
    (before,) = migration_jobs(cluster, namespace, t)

    patch = {"spec": {"deliveryMode": "routed", "displayName": "Renamed"}}
    cluster.merge_patch(names.API_VERSION, "ScrmTenant", namespace, t, patch)
    ready = wait_reconciled(cluster, namespace, t, 2)

    assert ready["observedGeneration"] == 2
    assert (ready["status"], ready["reason"]) == ("False", "Progressing")
    assert "migration" in ready["message"]  # the new Job has not run yet
    config = cluster.kube.get("v1", "ConfigMap", namespace, f"{t}-config")
    assert config is not None
    assert config["data"]["SCRM_DELIVERY_MODE"] == "routed"
    assert config["data"]["SCRM_TENANT_NAME"] == "Renamed"
    (after,) = eventually(lambda: migration_jobs(cluster, namespace, t) != [before] and
                          migration_jobs(cluster, namespace, t), "the new Job alone")  # fmt: skip
    assert after != before


def seeded_namespace(cluster: Cluster, name: str) -> str:
    cluster.tenant_namespace(name)
    base = urlsplit(require_postgres())
    admin = {"username": base.username or "", "password": base.password or ""}
    cluster.secret(name, "pg-admin", admin)
    return name


def shared_database() -> dict[str, Any]:
    base = urlsplit(require_postgres())
    server = {"host": base.hostname, "port": base.port, "adminSecretRef": {"name": "pg-admin"}}
    return {"sharedServer": server}


async def _database_of(url: str) -> str:
    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    try:
        return str(await conn.fetchval("SELECT current_database()"))
    finally:
        await conn.close()


async def _drop(idents: list[str]) -> None:
    admin = await asyncpg.connect("postgresql://" + require_postgres().split("://", 1)[1])
    try:
        for ident in idents:
            await admin.execute(f'DROP DATABASE IF EXISTS "{ident}" WITH (FORCE)')
            await admin.execute(f'DROP ROLE IF EXISTS "{ident}"')
    finally:
        await admin.close()


def test_look_alike_names_get_their_own_vhost_user_and_database(
    operator: Operator, cluster: Cluster, rabbit: RabbitAdmin
) -> None:
    """``<base>-a``/``x`` and ``<base>``/``a-x`` used to share ``scrm-<base>-a-x``: one
    tenant could log in to the other's vhost and database."""
    base = f"e2e-{secrets.token_hex(3)}"
    pairs = [
        (seeded_namespace(cluster, f"{base}-a"), "x"),
        (seeded_namespace(cluster, base), "a-x"),
    ]
    for ns, t in pairs:
        cluster.create(tenant_manifest(ns, t, database=shared_database()))
    idents: list[str] = []
    try:
        for ns, t in pairs:
            wait_reconciled(cluster, ns, t, 1)
        brokers = [cluster.kube.secret_data(ns, f"{t}-rabbitmq") or {} for ns, t in pairs]
        databases = [cluster.kube.secret_data(ns, f"{t}-database") or {} for ns, t in pairs]
        assert brokers[0]["vhost"] != brokers[1]["vhost"]
        assert brokers[0]["user"] != brokers[1]["user"]
        idents = [asyncio.run(_database_of(d["url"])) for d in databases]
        assert idents[0] != idents[1]
        assert idents == [names.external_name(ns, t) for ns, t in pairs]
        for (ns, t), broker in zip(pairs, brokers, strict=True):
            assert rabbit.vhost_description(broker["vhost"]) == names.owner_tag(ns, t)
        # Neither user has any right on the other's vhost.
        management = Broker.from_secret({"managementUrl": require_rabbitmq()[1], "amqpUrl": ""})
        admin_auth = (management.username, management.password)
        for mine, theirs in ((0, 1), (1, 0)):
            vhost = quote(brokers[theirs]["vhost"], safe="")
            user = quote(brokers[mine]["user"], safe="")
            url = f"{management.management_url}/api/permissions/{vhost}/{user}"
            assert httpx.get(url, auth=admin_auth).status_code == 404
    finally:
        for ns, _ in pairs:
            cluster.delete_all(ns, "ScrmTenant")
        asyncio.run(_drop(idents or [names.external_name(ns, t) for ns, t in pairs]))


def test_a_vhost_of_someone_else_is_refused_and_never_deleted(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    t = f"clash-{secrets.token_hex(2)}"
    vhost = names.external_name(namespace, t)
    rabbit.ensure_vhost(vhost, "billing team's vhost")
    try:
        cluster.create(tenant_manifest(namespace, t))
        ready = failed_with(cluster, namespace, t, "FailedNameClash")
        assert ready["observedGeneration"] == 1
        assert vhost in ready["message"]
        assert vhost in warned(cluster, namespace, t, "FailedNameClash")["message"]
        assert cluster.status(namespace, t)["phase"] == "Failed"
        assert cluster.kube.secret_data(namespace, f"{t}-rabbitmq") is None
        assert rabbit.vhost_description(vhost) == "billing team's vhost"

        cluster.delete_all(namespace, "ScrmTenant")  # its cleanup must not take the vhost
        assert rabbit.vhost_description(vhost) == "billing team's vhost"
    finally:
        rabbit.delete_vhost(vhost)


def test_an_object_with_a_childs_name_is_never_adopted(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    t = f"victim-{secrets.token_hex(2)}"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{t}-api", "namespace": namespace},
        "spec": {"selector": {"app": "billing"}, "ports": [{"port": 80}]},
    }
    cluster.create(service)
    cluster.create(tenant_manifest(namespace, t))

    ready = failed_with(cluster, namespace, t, "FailedOwnership")
    assert f"Service/{t}-api" in ready["message"]
    assert f"Service/{t}-api" in warned(cluster, namespace, t, "FailedOwnership")["message"]
    kept = cluster.kube.get("v1", "Service", namespace, f"{t}-api")
    assert kept is not None
    assert kept["spec"]["selector"] == {"app": "billing"}
    assert not kept["metadata"].get("ownerReferences")
    # The other children are applied all the same.
    assert cluster.kube.get("v1", "Service", namespace, f"{t}-ws") is not None
    assert cluster.kube.get("apps/v1", "Deployment", namespace, f"{t}-api") is not None


def test_a_rotated_broker_administrator_is_granted_the_tenant_vhost(
    operator: Operator, cluster: Cluster, namespace: str, rabbit: RabbitAdmin
) -> None:
    """The broker Secret moves to another administrator, who has no rights on the tenant's
    vhost yet: the operator grants them before declaring anything."""
    t = f"rot-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    vhost = cluster.status(namespace, t)["rabbitmq"]["vhost"]

    amqp_url, api_url = require_rabbitmq()
    user, password = f"scrm-admin-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    rabbit.ensure_user(user, password)
    management = Broker.from_secret({"managementUrl": api_url, "amqpUrl": ""})
    auth = (management.username, management.password)
    tags = httpx.put(
        f"{management.management_url}/api/users/{user}",
        auth=auth,
        json={"password": password, "tags": "administrator"},
    )
    assert tags.status_code in (201, 204), tags.text
    parts = urlsplit(api_url)
    rotated = urlunsplit(
        (parts.scheme, f"{user}:{password}@{parts.hostname}:{parts.port}", parts.path, "", "")
    )
    try:
        cluster.merge_patch(
            "v1", "Secret", namespace, "broker", {"stringData": {"managementUrl": rotated}}
        )
        cluster.merge_patch(
            names.API_VERSION, "ScrmTenant", namespace, t, {"spec": {"deliveryMode": "routed"}}
        )
        ready = wait_reconciled(cluster, namespace, t, 2)
        assert not ready["reason"].startswith("Failed"), ready
        assert cluster.status(namespace, t)["rabbitmq"]["exchange"] == f"scrm.{t}.routed"
        perms = httpx.get(f"{management.management_url}/api/permissions/{vhost}/{user}", auth=auth)
        assert perms.status_code == 200 and perms.json()["configure"] == ".*"
    finally:
        cluster.delete_all(namespace, "ScrmTenant")
        rabbit.delete_user(user)
