"""Switching a tenant's broker Secret to another RabbitMQ moves everything there: the vhost,
user and exchange are declared on the new broker, the tenant's AMQP URL is rewritten (its
pods roll), and the old vhost and user are removed from the old broker.

The second broker is a real RabbitMQ node of its own (``rabbitmq-server`` with its own
node name, ports and data directory), started for this module."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from scrm_operator import names
from scrm_operator.rabbitmq import Broker, RabbitAdmin

from tests.operator.controlplane import free_port
from tests.operator.e2e.harness import (
    Cluster,
    Operator,
    eventually,
    tenant_manifest,
    wait_reconciled,
)
from tests.operator.e2e.test_lifecycle import logs_in
from tests.services import require_rabbitmq, unavailable

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
STARTUP_SECONDS = 180.0  # a cold node on a loaded 2-core machine took 47 s


@pytest.fixture(scope="module")
def second_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The Secret data of a second RabbitMQ node."""
    server = RABBITMQ_BIN / "rabbitmq-server"
    if not server.exists() or shutil.which("erl") is None:
        unavailable("a second RabbitMQ node", f"{server} (and erl) not installed")
    home = tmp_path_factory.mktemp("rabbitmq")
    amqp_port, management_port, dist_port = free_port(), free_port(), free_port()
    node = f"scrm-e2e-{secrets.token_hex(3)}@localhost"
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp_port}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {management_port}\n"
        "default_user = second\ndefault_pass = second\nloopback_users = none\n"
    )
    (home / "enabled_plugins").write_text("[rabbitmq_management].\n")
    env = {
        **os.environ,
        "HOME": str(home),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": os.devnull,
    }
    with (home / "server.log").open("w") as log:
        process = subprocess.Popen([str(server)], env=env, stdout=log, stderr=subprocess.STDOUT)
    management = f"http://second:second@127.0.0.1:{management_port}"
    try:
        eventually(
            lambda: answers(f"{management}/api/overview"),
            "the second RabbitMQ node",
            within=STARTUP_SECONDS,
            interval=1.0,
        )
        yield {
            "managementUrl": management,
            "amqpUrl": f"amqp://second:second@127.0.0.1:{amqp_port}/",
        }
    finally:
        ctl = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node, "stop"]
        subprocess.run(ctl, env=env, capture_output=True, timeout=120, check=False)
        process.terminate()
        process.wait(timeout=60)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False


def user_exists(broker: dict[str, str], user: str) -> bool:
    admin = Broker.from_secret(broker)
    url = f"{admin.management_url}/api/users/{quote(user, safe='')}"
    response = httpx.get(url, auth=(admin.username, admin.password), timeout=5)
    return response.status_code == 200


def finalizers(cluster: Cluster, ns: str, secret: str) -> list[str]:
    body = cluster.kube.get("v1", "Secret", ns, secret) or {}
    return list(body.get("metadata", {}).get("finalizers") or [])


def test_switching_the_broker_secret_moves_the_tenant_to_the_new_broker(
    operator: Operator,
    cluster: Cluster,
    namespace: str,
    rabbit: RabbitAdmin,
    second_broker: dict[str, str],
) -> None:
    t = f"move-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    before = cluster.kube.secret_data(namespace, f"{t}-rabbitmq") or {}
    vhost, user = before["vhost"], before["user"]
    first_broker = {"managementUrl": require_rabbitmq()[1], "amqpUrl": ""}
    assert rabbit.vhost_description(vhost) and user_exists(first_broker, user)
    api = cluster.kube.get("apps/v1", "Deployment", namespace, f"{t}-api") or {}
    rolled_from = api["spec"]["template"]["metadata"]["annotations"][names.CREDENTIALS_HASH]

    cluster.secret(namespace, "broker2", second_broker)
    patch = {"spec": {"rabbitmq": {"secretRef": {"name": "broker2"}}}}
    cluster.merge_patch(names.API_VERSION, "ScrmTenant", namespace, t, patch)
    ready = wait_reconciled(cluster, namespace, t, 2)
    assert not ready["reason"].startswith("Failed"), ready

    after = cluster.kube.secret_data(namespace, f"{t}-rabbitmq") or {}
    assert after["brokerSecret"] == "broker2"
    assert (after["vhost"], after["user"], after["password"]) == (
        vhost,
        user,
        before["password"],
    )
    assert after["amqpUrl"] != before["amqpUrl"] and logs_in(after["amqpUrl"])
    with RabbitAdmin(Broker.from_secret(second_broker)) as new:
        assert new.vhost_description(vhost) == names.owner_tag(namespace, t)
        assert f"scrm.{t}.fanout" in new.exchanges(vhost)
    # The old broker keeps nothing of the tenant, and its Secret is let go.
    assert rabbit.vhost_description(vhost) is None
    assert not user_exists(first_broker, user)
    assert not logs_in(before["amqpUrl"])
    assert names.BROKER_FINALIZER not in finalizers(cluster, namespace, "broker")
    assert names.BROKER_FINALIZER in finalizers(cluster, namespace, "broker2")
    eventually(
        lambda: (
            (cluster.kube.get("apps/v1", "Deployment", namespace, f"{t}-api") or {})["spec"][
                "template"
            ]["metadata"]["annotations"][names.CREDENTIALS_HASH]
            != rolled_from
        ),
        "the api pods to roll onto the new broker",
    )
