"""The cluster e2e's fixtures: a whole control plane with the process kubelet
(tests/cluster/cluster.py), the operator installed by its Helm chart and run as a process
under its ServiceAccount's token, and the Graph API simulator.

In CI (``CI=true``) missing binaries fail the tests; elsewhere they are skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.cluster.cluster import KWOK_TOLERATION, KubeCluster
from tests.operator.controlplane import (
    REPO,
    Unavailable,
    cluster_binaries_dir,
    free_port,
    helm_binary,
)
from tests.services import BUILD_HOW, unavailable

CHART = REPO / "charts" / "scrm-operator"
OPERATOR_NAMESPACE = "scrm-system"
RELEASE = "scrm-operator"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for mark in ("controlplane", "postgres", "rabbitmq"):
                item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    try:
        binaries = cluster_binaries_dir()
    except Unavailable as exc:
        unavailable("cluster binaries", exc, BUILD_HOW)
    scrm = shutil.which("scrm")
    if scrm is None:
        pytest.fail("the scrm command is not installed (pip install -e .)", pytrace=False)
    cluster = KubeCluster(tmp_path_factory.mktemp("cluster"), binaries, [scrm])
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class OperatorProcess:
    """The chart's operator container run as a local process: its args (liveness moved to a
    free loopback port) and env, with a kubeconfig holding its ServiceAccount's token."""

    def __init__(self, args: list[str], env: dict[str, str], kubeconfig: Path, log: Path):
        port = free_port()
        self.args = [
            f"--liveness=http://127.0.0.1:{port}/healthz" if a.startswith("--liveness") else a
            for a in args
        ]
        self.env = {
            **os.environ,
            **env,
            "KUBECONFIG": str(kubeconfig),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "operator")]),
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kopf", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers, no peering farewell (a crashed pod)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _helm(cluster: KubeCluster, *args: str) -> None:
    try:
        helm = helm_binary()
    except Unavailable as exc:
        unavailable("helm", exc, BUILD_HOW)
    result = subprocess.run(
        [str(helm), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _token_kubeconfig(cluster: KubeCluster, namespace: str, account: str) -> Path:
    """A kubeconfig authenticating as the ServiceAccount (TokenRequest API), as in a pod."""
    assert cluster.api is not None and cluster.ca is not None
    request = client.CoreV1Api(cluster.api).create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600 * 6}}
    )
    path = cluster.dir / f"kubeconfig-{account}"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "e2e",
                        "cluster": {
                            "server": cluster.url,
                            "certificate-authority": str(cluster.ca.path),
                        },
                    }
                ],
                "users": [{"name": account, "user": {"token": request.status.token}}],
                "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": account}}],
                "current-context": "e2e",
            }
        )
    )
    return path


@pytest.fixture(scope="session")
def operator(kube_cluster: KubeCluster) -> Iterator[OperatorProcess]:
    """``helm install`` (CRDs, RBAC, ServiceAccount, peering, Deployment); the Deployment's
    pod is faked by kwok (it tolerates the kwok node only), its container runs here."""
    values = kube_cluster.dir / "operator-values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "resyncSeconds": 2,
                "gcSeconds": 2,
                # The simulator and the service proxy listen on loopback ports.
                "allowedGraphUrls": ["http://127.0.0.1:*"],
                "allowedInternalUrls": ["http://127.0.0.1:*"],
                "tolerations": [KWOK_TOLERATION],
                "nodeSelector": {"type": "kwok"},
            }
        )
    )
    _helm(
        kube_cluster,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--values",
        str(values),
        "--wait",
        "--timeout",
        "120s",
    )
    assert kube_cluster.api is not None
    deployment = client.AppsV1Api(kube_cluster.api).read_namespaced_deployment(
        RELEASE, OPERATOR_NAMESPACE
    )
    spec = deployment.spec.template.spec
    (container,) = spec.containers
    env = {e.name: e.value for e in container.env or [] if e.value is not None}
    kubeconfig = _token_kubeconfig(kube_cluster, OPERATOR_NAMESPACE, spec.service_account_name)
    running = OperatorProcess(
        list(container.args), env, kubeconfig, kube_cluster.dir / "operator.log"
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def wait_until(check: Any, what: str, within: float = 60.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + within
    last: Any = None
    while time.monotonic() < end:
        try:
            result = check()
        except (ApiException, KeyError, TypeError, IndexError, OSError) as exc:
            result, last = None, exc
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what} (last error: {last})")
