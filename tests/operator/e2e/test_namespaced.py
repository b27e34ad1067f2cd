"""The operator of one namespace under exactly the RBAC the chart renders for
``watchNamespace``: a Role in that namespace and a ClusterRole for CRD discovery and the
namespace list. A tenant is reconciled, a refused one gets its Warning Event, drift is
repaired through the watch, and deletion lets the tenant and its broker Secret go."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from scrm_operator import names

from tests.operator.controlplane import ControlPlane, Unavailable, helm_binary
from tests.operator.e2e.harness import (
    REPO,
    Cluster,
    Operator,
    eventually,
    failed_with,
    tenant_manifest,
    wait_reconciled,
    warned,
)
from tests.services import BUILD_HOW, require_rabbitmq, unavailable

USER = "scrm-operator-one-namespace"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
PATHS = {
    "Role": RBAC + "/namespaces/{ns}/roles",
    "RoleBinding": RBAC + "/namespaces/{ns}/rolebindings",
    "ClusterRole": RBAC + "/clusterroles",
    "ClusterRoleBinding": RBAC + "/clusterrolebindings",
}


def rendered_rbac(watched: str) -> list[dict[str, Any]]:
    try:
        helm = helm_binary()
    except Unavailable as exc:
        unavailable("helm", exc, BUILD_HOW)
    chart = REPO / "charts" / "scrm-operator"
    args = ["template", "one-ns", str(chart), "--namespace", "ops"]
    args += ["--set", f"watchNamespace={watched}", "--set", "peering.enabled=false"]
    out = subprocess.run([str(helm), *args], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d and d["kind"] in PATHS]


@pytest.fixture(scope="module")
def watched(cluster: Cluster) -> str:
    name = f"team-{secrets.token_hex(3)}"
    cluster.tenant_namespace(name)
    return name


@pytest.fixture(scope="module")
def one_namespace_operator(
    cluster: Cluster, control_plane: ControlPlane, watched: str
) -> Iterator[Operator]:
    """The chart's Role/ClusterRole, bound to a user instead of the chart's ServiceAccount
    (a bare API server has no token controller)."""
    require_rabbitmq()
    for doc in rendered_rbac(watched):
        if doc["kind"].endswith("Binding"):
            doc["subjects"] = [
                {"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}
            ]
        path = PATHS[doc["kind"]].format(ns=doc["metadata"].get("namespace"))
        cluster.kube.request("POST", path, body=doc)
    running = Operator(control_plane.user(USER), namespace=watched)
    running.start()
    try:
        yield running
    finally:
        cluster.delete_all(watched, "ScrmTenant")
        running.stop()


def test_an_operator_of_one_namespace_works_with_the_charts_role(
    one_namespace_operator: Operator, cluster: Cluster, watched: str
) -> None:
    t = f"ns-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(watched, t))
    ready = wait_reconciled(cluster, watched, t, 1)
    assert not ready["reason"].startswith("Failed"), ready
    for kind, name in (("Deployment", f"{t}-api"), ("Deployment", f"{t}-sender-worker")):
        assert cluster.kube.get("apps/v1", kind, watched, name) is not None

    refused = f"img-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(watched, refused, image={"repository": "docker.io/x/y"}))
    failed_with(cluster, watched, refused, "FailedImagePolicy")
    assert warned(cluster, watched, refused, "FailedImagePolicy")  # Events: create

    patch = {"spec": {"selector": {"app": "hijacked"}}}
    cluster.merge_patch("v1", "Service", watched, f"{t}-ws", patch)
    eventually(
        lambda: (
            (cluster.kube.get("v1", "Service", watched, f"{t}-ws") or {})["spec"]["selector"].get(
                names.TENANT_LABEL
            )
            == t
        ),
        "the Service to be repaired",
    )

    cluster.delete_all(watched, "ScrmTenant")

    def broker_released() -> bool:  # once no tenant uses it (after the last one is gone)
        broker = cluster.kube.get("v1", "Secret", watched, "broker") or {}
        return names.BROKER_FINALIZER not in (broker["metadata"].get("finalizers") or [])

    eventually(broker_released, "the broker Secret's finalizer to be released")
