"""Control-plane fixtures: etcd + kube-apiserver (envtest-style), CRDs, the operator running
as a least-privilege user (the chart's ClusterRole), and the real RabbitMQ.

In CI (``CI=true``) missing binaries fail the tests; elsewhere they are skipped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import config
from scrm_operator.kube import Kube
from scrm_operator.rabbitmq import Broker, RabbitAdmin

from tests.operator.controlplane import ControlPlane, Unavailable, binaries_dir
from tests.operator.e2e.harness import REPO, Cluster, Operator, eventually
from tests.services import BUILD_HOW, require_rabbitmq, unavailable

OPERATOR_USER = "scrm-operator"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.controlplane)
            item.add_marker(pytest.mark.rabbitmq)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    try:
        binaries = binaries_dir()
    except Unavailable as exc:
        unavailable("control plane", exc, BUILD_HOW)
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), binaries)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def cluster(control_plane: ControlPlane) -> Cluster:
    """Admin client; CRDs installed; the operator's ClusterRole bound to its user."""
    api = config.new_client_from_config(str(control_plane.kubeconfig))
    admin = Cluster(Kube(api))
    for path in sorted((REPO / "crds").glob("*.yaml")):
        admin.install(path)
    files = REPO / "charts/scrm-operator/files"
    # The chart's ClusterRole for an operator of every namespace, without the peering rule
    # (the tests run it --standalone).
    rules = [
        *yaml.safe_load((files / "rbac-rules.yaml").read_text()),
        *yaml.safe_load((files / "rbac-cluster-rules.yaml").read_text()),
    ]
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {"metadata": {"name": OPERATOR_USER}, "rules": rules}
    admin.kube.request("POST", f"{rbac}/clusterroles", body=role)
    admin.kube.request(
        "POST",
        f"{rbac}/clusterrolebindings",
        body={
            "metadata": {"name": OPERATOR_USER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": OPERATOR_USER,
            },
            "subjects": [
                {"kind": "User", "name": OPERATOR_USER, "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )
    eventually(admin.crds_established, "the CRDs to be established")
    return admin


@pytest.fixture(scope="module")
def operator(cluster: Cluster, control_plane: ControlPlane) -> Iterator[Operator]:
    require_rabbitmq()
    running = Operator(control_plane.user(OPERATOR_USER))
    running.start()
    try:
        yield running
    finally:
        if running.runner is not None:
            running.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace with the broker, database and WhatsApp Secrets a tenant refers to.
    Its tenants (and so their RabbitMQ vhosts) are deleted afterwards, then its senders;
    the namespace stays: a bare API server has no namespace controller."""
    name = f"e2e-{secrets.token_hex(3)}"
    cluster.tenant_namespace(name)
    yield name
    for kind in ("ScrmTenant", "Sender"):
        cluster.delete_all(name, kind)


@pytest.fixture
def rabbit() -> Iterator[RabbitAdmin]:
    """The shared RabbitMQ's management API as its administrator."""
    amqp_url, api_url = require_rabbitmq()
    with RabbitAdmin(Broker.from_secret({"managementUrl": api_url, "amqpUrl": amqp_url})) as a:
        yield a
