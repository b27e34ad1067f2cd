"""Drift against the real API server: hand-made changes to a tenant's children are repaired
through the watch on them, with the resync timer too slow to be what repairs them; a
regenerated credentials Secret rolls the pods (checksum on the pod templates).

The operator runs as its own process here (``kopf run``), started with a 10-minute resync:
the in-process operator of the other modules reads its 2 s resync at import."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrm_operator import names

from tests.operator.controlplane import ControlPlane
from tests.operator.e2e.conftest import OPERATOR_USER
from tests.operator.e2e.harness import REPO, Cluster, eventually, tenant_manifest, wait_reconciled
from tests.services import require_rabbitmq

REPAIRED_WITHIN = 10.0  # seconds; the resync comes after 600


@pytest.fixture(scope="module")
def slow_resync_operator(
    cluster: Cluster, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """``kopf run`` as a process; yields its log file."""
    require_rabbitmq()
    log = tmp_path_factory.mktemp("operator") / "kopf.log"
    env = {
        **os.environ,
        "KUBECONFIG": str(control_plane.user(OPERATOR_USER)),
        "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)]),
        "SCRM_OPERATOR_RESYNC_SECONDS": "600",
    }
    command = [sys.executable, "-m", "kopf", "run", "--all-namespaces", "--standalone"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "-m", "scrm_operator"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield log
    finally:
        process.terminate()
        process.wait(timeout=30)


def pod_annotations(cluster: Cluster, ns: str, name: str) -> dict[str, str]:
    deployment = cluster.kube.get("apps/v1", "Deployment", ns, name) or {}
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_hand_changed_children_are_repaired_through_the_watch(
    slow_resync_operator: Path, cluster: Cluster, namespace: str
) -> None:
    t = f"drift-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    selector = (cluster.kube.get("v1", "Service", namespace, f"{t}-api") or {})["spec"]["selector"]

    cluster.merge_patch(
        "v1", "Service", namespace, f"{t}-api", {"spec": {"selector": {"app": "x"}}}
    )
    cluster.merge_patch("apps/v1", "Deployment", namespace, f"{t}-api", {"spec": {"replicas": 7}})
    cluster.kube.delete("v1", "ConfigMap", namespace, f"{t}-config")

    eventually(
        lambda: (
            (cluster.kube.get("v1", "Service", namespace, f"{t}-api") or {})["spec"]["selector"]
            == selector
        ),
        "the Service's selector to be repaired",
        within=REPAIRED_WITHIN,
    )
    eventually(
        lambda: (
            (cluster.kube.get("apps/v1", "Deployment", namespace, f"{t}-api") or {})["spec"][
                "replicas"
            ]
            == 2
        ),
        "the Deployment's replicas to be repaired",
        within=REPAIRED_WITHIN,
    )
    eventually(
        lambda: cluster.kube.get("v1", "ConfigMap", namespace, f"{t}-config"),
        "the ConfigMap to be recreated",
        within=REPAIRED_WITHIN,
    )


def test_regenerated_credentials_roll_the_pods_that_use_them(
    slow_resync_operator: Path, cluster: Cluster, namespace: str
) -> None:
    t = f"creds-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, t))
    wait_reconciled(cluster, namespace, t, 1)
    workloads = [f"{t}-api", f"{t}-ws", f"{t}-sender-worker"]
    before = {name: pod_annotations(cluster, namespace, name) for name in workloads}
    assert all(names.CREDENTIALS_HASH in a for a in before.values())
    keys = cluster.kube.secret_data(namespace, f"{t}-keys")
    broker = cluster.kube.secret_data(namespace, f"{t}-rabbitmq")

    for secret in (f"{t}-keys", f"{t}-rabbitmq"):
        cluster.kube.delete("v1", "Secret", namespace, secret)
    # Any pass regenerates them; a drift event brings one without waiting for the resync.
    cluster.kube.delete("v1", "Service", namespace, f"{t}-ws")

    def rolled() -> bool:
        return all(
            pod_annotations(cluster, namespace, name)[names.CREDENTIALS_HASH]
            != before[name][names.CREDENTIALS_HASH]
            for name in workloads
        )

    eventually(rolled, "every Deployment's pods to roll", within=REPAIRED_WITHIN)
    new_keys = cluster.kube.secret_data(namespace, f"{t}-keys") or {}
    new_broker = cluster.kube.secret_data(namespace, f"{t}-rabbitmq") or {}
    assert keys and new_keys["jwtSecret"] != keys["jwtSecret"]
    assert broker and new_broker["password"] != broker["password"]
    for name in workloads:  # only the credentials checksum moved
        after = pod_annotations(cluster, namespace, name)
        assert after[names.CONFIG_HASH] == before[name][names.CONFIG_HASH]
