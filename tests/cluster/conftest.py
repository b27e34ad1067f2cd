"""The cluster e2e's fixtures: the cluster (tests/cluster/cluster.py: the assembled control
plane with the process kubelet, or an existing one given by ``SCRM_E2E_KUBECONFIG``) and
the operator installed by its Helm chart, running under its ServiceAccount.

In CI (``CI=true``) missing binaries fail the tests; elsewhere they are skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.cluster import Existing, ExistingCluster, KubeCluster, Operator, Target
from tests.operator.controlplane import Unavailable, cluster_binaries_dir
from tests.services import BUILD_HOW, unavailable

KIND_HOW = "run e2e/kind/run.sh, or give SCRM_E2E_KUBECONFIG of a cluster with the images"


# Plain functions of the kind mode, run without a cluster.
UNIT_MODULES = {"test_existing_cluster.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents and path.name not in UNIT_MODULES:
            for mark in ("controlplane", "postgres", "rabbitmq"):
                item.add_marker(getattr(pytest.mark, mark))


def _local(workdir: Path) -> KubeCluster:
    try:
        binaries = cluster_binaries_dir()
    except Unavailable as exc:
        unavailable("cluster binaries", exc, BUILD_HOW)
    scrm = shutil.which("scrm")
    if scrm is None:
        pytest.fail("the scrm command is not installed (pip install -e .)", pytrace=False)
    return KubeCluster(workdir, binaries, [scrm])


def _existing(settings: Existing, workdir: Path) -> ExistingCluster:
    try:
        return ExistingCluster(settings, workdir)
    except FileNotFoundError as exc:
        unavailable("kubectl", exc, KIND_HOW)


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The assembled control plane, or the existing cluster of ``SCRM_E2E_KUBECONFIG``."""
    workdir = tmp_path_factory.mktemp("cluster")
    try:
        settings = Existing.from_env(os.environ)
    except FileNotFoundError as exc:
        unavailable("the cluster of SCRM_E2E_KUBECONFIG", exc, KIND_HOW)
    cluster = _local(workdir) if settings is None else _existing(settings, workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def operator(kube_cluster: Target) -> Operator:
    """``helm install`` (CRDs, RBAC, ServiceAccount, peering, Deployment), then the
    operator running under the chart's ServiceAccount (stopped with the cluster)."""
    try:
        return kube_cluster.install_operator()
    except Unavailable as exc:  # no helm, and it could not be built
        unavailable("helm", exc, BUILD_HOW)
