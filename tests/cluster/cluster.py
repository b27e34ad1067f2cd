"""A whole control plane on loopback, no Docker: etcd + kube-apiserver (ServiceAccount
admission on) + kube-controller-manager + kube-scheduler + kwok, a kwok node for every pod
that is not the project's, and the process kubelet's node for those that are.

The kwok node carries the taint ``kwok.x-k8s.io/node=fake:NoSchedule``: a pod lands there
only with a toleration (the tests give one to the operator's own Deployment), so every pod
of the project's image is scheduled onto the process kubelet, and kwok never fakes it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from kubernetes import client, config

from e2e.process_kubelet import ProcessKubelet, ServiceProxy
from tests.operator.controlplane import ControlPlane, _wait, free_port

KWOK_NODE = "kwok-node-0"
PROCESS_NODE = "process-node-0"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake"}
# The project's runtime image and its ENTRYPOINT (e2e/kind/Dockerfile, target runtime).
RUNTIME_IMAGE = "ghcr.io/scrm/scrm"


class KubeCluster(ControlPlane):
    """``start()`` returns with controllers, scheduler, kwok and the process kubelet running;
    ``proxy`` dials Services."""

    def __init__(self, workdir: Path, binaries: Path, entrypoint: list[str]) -> None:
        super().__init__(workdir, binaries, service_accounts=True)
        self.entrypoint = entrypoint
        self.kubelet: ProcessKubelet | None = None
        self.proxy: ServiceProxy | None = None
        self.api: client.ApiClient | None = None

    def start(self) -> None:
        super().start()
        assert self.signer is not None and self.ca is not None
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        for name, extra in (
            (
                "kube-controller-manager",
                [
                    f"--service-account-private-key-file={self.signer.key}",
                    f"--root-ca-file={self.ca.path}",
                    "--use-service-account-credentials=true",
                    f"--cluster-signing-cert-file={self.signer.cert}",
                    f"--cluster-signing-key-file={self.signer.key}",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
                    "--horizontal-pod-autoscaler-sync-period=5s",
                    "--node-monitor-grace-period=60s",
                ],
            ),
            ("kube-scheduler", []),
        ):
            port = free_port()
            process, log = self._spawn(
                name,
                [
                    f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    f"--secure-port={port}",
                    "--bind-address=127.0.0.1",
                    f"--cert-dir={self.dir / name}",
                    "--v=1",
                    *extra,
                ],
            )
            _wait(f"https://127.0.0.1:{port}/healthz", name, process, insecure, log)
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--config={self.bin / 'kwok-stages.yaml'}",
                "--node-lease-duration-seconds=40",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                "--cidr=127.2.0.1/16",  # faked pod IPs stay on loopback too
            ],
        )
        self.api = config.new_client_from_config(str(self.kubeconfig))
        client.CoreV1Api(self.api).create_node(
            {
                "metadata": {
                    "name": KWOK_NODE,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {"type": "kwok", "kubernetes.io/hostname": KWOK_NODE},
                },
                "spec": {"taints": [KWOK_TAINT]},
            }
        )
        self.kubelet = ProcessKubelet(
            self.api,
            PROCESS_NODE,
            {RUNTIME_IMAGE: self.entrypoint},
            self.dir / "pods",
            labels={"type": "process"},
        )
        self.kubelet.start()
        self.proxy = ServiceProxy(self.api)

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
        if self.proxy is not None:
            self.proxy.stop()
        super().stop()
