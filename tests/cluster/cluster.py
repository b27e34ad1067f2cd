"""The cluster the onboarding module runs against, behind one seam, :class:`Target`:

- :class:`KubeCluster` (the default): a whole control plane on loopback, no Docker: etcd +
  kube-apiserver (ServiceAccount admission on) + kube-controller-manager + kube-scheduler +
  kwok, a kwok node for every pod that is not the project's, and the process kubelet's node
  for those that are. The kwok node carries the taint ``kwok.x-k8s.io/node=fake:NoSchedule``:
  a pod lands there only with a toleration (the operator's own Deployment has one), so every
  pod of the project's image is scheduled onto the process kubelet, and kwok never fakes it.
- :class:`ExistingCluster` (``SCRM_E2E_KUBECONFIG`` set, e.g. kind by e2e/kind/run.sh): real
  kubelets, containers, DNS and kube-proxy; the images must be loaded already.

What differs, and only here: how the operator is installed, started and killed; where
PostgreSQL, RabbitMQ and the Graph API simulator are, for the test and for the cluster; how
the test reaches a Service (``ServiceProxy``, dialling pods directly or through
``kubectl port-forward``); which pods really run; how a deleted pod's processes ended.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from kubernetes import client, config, utils
from kubernetes.client.exceptions import ApiException

from e2e.process_kubelet import Ending, ProcessKubelet, ServiceProxy
from runtime.whatsapp.simulator import SimulatorConfig, create_app
from tests.cluster.portforward import PortForwards
from tests.operator.controlplane import REPO, ControlPlane, _wait, free_port, helm_binary
from tests.services import require_postgres, require_rabbitmq
from tests.support import served_in_thread

KWOK_NODE = "kwok-node-0"
PROCESS_NODE = "process-node-0"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake"}
# The project's runtime image and its ENTRYPOINT (e2e/kind/Dockerfile, target runtime).
RUNTIME_IMAGE = "ghcr.io/scrm/scrm"
CHART = REPO / "charts" / "scrm-operator"
OPERATOR_NAMESPACE = "scrm-system"
RELEASE = "scrm-operator"
# e2e/kind/services.yaml: the in-cluster PostgreSQL and RabbitMQ and their administrator.
SERVICES_MANIFEST = REPO / "e2e" / "kind" / "services.yaml"
SERVICES_ADMIN = ("admin", "admin-pw")
SIMULATOR_PORT = 9000


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


@dataclass(frozen=True)
class Image:
    """The runtime image the tenant runs, and the tag its rolling update moves to."""

    repository: str
    tag: str
    next_tag: str


def parse_image(reference: str, next_tag: str | None = None) -> Image:
    """``registry:5000/scrm:dev`` -> repository ``registry:5000/scrm``, tag ``dev`` (a
    reference without a tag is ``latest``); the next tag defaults to ``<tag>-next``."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:  # no tag, only a registry port
        repository, tag = reference, "latest"
    return Image(repository, tag, next_tag or f"{tag}-next")


@dataclass(frozen=True)
class Graph:
    """The Graph API simulator: ``in_cluster`` is the tenant's ``graphBaseUrl``,
    ``for_test`` where the test drives it (``/_sim``)."""

    in_cluster: str
    for_test: str


class Operator(Protocol):
    def kill(self) -> None:
        """A crash: no cleanup handlers, no peering farewell."""

    def start(self) -> None:
        """Running again after ``kill``."""


class Target(ABC):
    """What the onboarding module needs of a cluster; ``start()`` before use."""

    api: client.ApiClient
    proxy: ServiceProxy
    image: Image

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def service_url(self, namespace: str, service: str, port: str, scheme: str = "http") -> str:
        """A Service's port as the test reaches it (the port's name; ``""`` if unnamed)."""
        return self.proxy.url(namespace, service, port, scheme)

    @abstractmethod
    def in_cluster_url(self, namespace: str, service: str, port: str, number: int) -> str:
        """A Service's port as pods reach it (the simulator posting webhooks)."""

    @abstractmethod
    def operator_api_url(self, namespace: str, service: str, port: str) -> str | None:
        """``spec.api.internalUrl`` when the operator cannot use the default."""

    @abstractmethod
    def install_operator(self) -> Operator:
        """The chart installed, the operator running under its ServiceAccount."""

    @abstractmethod
    def postgres(self) -> tuple[str, Callable[[str], str]]:
        """A database URL on the server for the test (to create the tenant's database),
        and the tenant's URL of a database by name."""

    @abstractmethod
    def rabbitmq_secret(self) -> dict[str, str]:
        """The broker administrator Secret's data, as the operator reaches the broker."""

    @abstractmethod
    def rabbitmq_management(self) -> str:
        """The management API (with credentials) as the test reaches it."""

    @abstractmethod
    def graph(
        self, namespace: str, webhook_url: str, app_secret: str, retry_delays: tuple[float, ...]
    ) -> contextlib.AbstractContextManager[Graph]:
        """The simulator running for the block, posting signed webhooks to ``webhook_url``."""

    @abstractmethod
    def runs(self, pod: client.V1Pod) -> bool:
        """The pod's containers run for real (not a faked status)."""

    def endings(self) -> Mapping[tuple[str, str], Ending] | None:
        """How deleted pods' processes ended, by (namespace, name), where known."""
        return None


def install_chart(helm: list[str], values: dict[str, Any], workdir: Path) -> None:
    """``helm upgrade --install`` of the chart; ``helm`` is the command with its cluster
    options."""
    path = workdir / "operator-values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [
            *helm,
            *("upgrade", "--install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE),
            *("--create-namespace", "--values", str(path), "--wait", "--timeout", "300s"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- the assembled control plane with the process kubelet --------------------------------


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


class KubeCluster(ControlPlane, Target):
    """``start()`` returns with controllers, scheduler, kwok and the process kubelet running;
    ``proxy`` dials Services' pods directly. The operator runs as a local process (its pod
    is kwok's), PostgreSQL, RabbitMQ and the simulator are on 127.0.0.1."""

    def __init__(self, workdir: Path, binaries: Path, entrypoint: list[str]) -> None:
        super().__init__(workdir, binaries, service_accounts=True)
        self.entrypoint = entrypoint
        self.kubelet: ProcessKubelet | None = None
        self.operator: OperatorProcess | None = None
        self.image = Image(RUNTIME_IMAGE, "0.1.0", "0.1.1")

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
        if self.operator is not None:
            self.operator.stop()
        if self.kubelet is not None:
            self.kubelet.stop()
        if getattr(self, "proxy", None) is not None:
            self.proxy.stop()
        super().stop()

    def in_cluster_url(self, namespace: str, service: str, port: str, number: int) -> str:
        return self.service_url(namespace, service, port)  # the "pods" are local processes too

    def operator_api_url(self, namespace: str, service: str, port: str) -> str | None:
        """The operator is not in a cluster network: it reaches the api Service through the
        proxy instead of <tenant>-api.<ns>.svc."""
        return self.service_url(namespace, service, port)

    def install_operator(self) -> Operator:
        """``helm install``; the Deployment's pod is faked by kwok (it tolerates the kwok
        node only), its container runs here under a TokenRequest token of the chart's
        ServiceAccount."""
        values = {
            "resyncSeconds": 2,
            "gcSeconds": 2,
            # The simulator and the service proxy listen on loopback ports.
            "allowedGraphUrls": ["http://127.0.0.1:*"],
            "allowedInternalUrls": ["http://127.0.0.1:*"],
            "tolerations": [KWOK_TOLERATION],
            "nodeSelector": {"type": "kwok"},
        }
        install_chart([str(helm_binary()), f"--kubeconfig={self.kubeconfig}"], values, self.dir)
        deployment = client.AppsV1Api(self.api).read_namespaced_deployment(
            RELEASE, OPERATOR_NAMESPACE
        )
        spec = deployment.spec.template.spec
        (container,) = spec.containers
        env = {e.name: e.value for e in container.env or [] if e.value is not None}
        kubeconfig = self._token_kubeconfig(OPERATOR_NAMESPACE, spec.service_account_name)
        self.operator = OperatorProcess(
            list(container.args), env, kubeconfig, self.dir / "operator.log"
        )
        self.operator.start()
        return self.operator

    def _token_kubeconfig(self, namespace: str, account: str) -> Path:
        """A kubeconfig authenticating as the ServiceAccount (TokenRequest API), as in a pod."""
        assert self.ca is not None
        request = client.CoreV1Api(self.api).create_namespaced_service_account_token(
            account, namespace, {"spec": {"expirationSeconds": 3600 * 6}}
        )
        path = self.dir / f"kubeconfig-{account}"
        cluster = {"server": self.url, "certificate-authority": str(self.ca.path)}
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "e2e", "cluster": cluster}],
                    "users": [{"name": account, "user": {"token": request.status.token}}],
                    "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": account}}],
                    "current-context": "e2e",
                }
            )
        )
        return path

    def postgres(self) -> tuple[str, Callable[[str], str]]:
        base = require_postgres()
        return base, lambda name: base.rsplit("/", 1)[0] + f"/{name}"

    def rabbitmq_secret(self) -> dict[str, str]:
        amqp_url, management_url = require_rabbitmq()
        return {"managementUrl": management_url, "amqpUrl": amqp_url}

    def rabbitmq_management(self) -> str:
        return require_rabbitmq()[1]

    @contextlib.contextmanager
    def graph(
        self, namespace: str, webhook_url: str, app_secret: str, retry_delays: tuple[float, ...]
    ) -> Iterator[Graph]:
        settings = SimulatorConfig(
            webhook_url=webhook_url, app_secret=app_secret, webhook_retry_delays=retry_delays
        )
        with served_in_thread(create_app(settings)) as port:
            url = f"http://127.0.0.1:{port}"
            yield Graph(url, url)

    def runs(self, pod: client.V1Pod) -> bool:
        """On the process kubelet's node, with its 198.18 pod IP (see process-kubelet.md)."""
        return pod.spec.node_name == PROCESS_NODE and pod.status.pod_ip.startswith("198.18.")

    def endings(self) -> Mapping[tuple[str, str], Ending] | None:
        assert self.kubelet is not None
        return self.kubelet.endings


# -- an existing cluster (kind) ------------------------------------------------------------


@dataclass(frozen=True)
class Existing:
    """``SCRM_E2E_KUBECONFIG`` (required), ``SCRM_E2E_CONTEXT`` (else the current one),
    ``SCRM_E2E_IMAGE`` (``scrm:dev``), ``SCRM_E2E_NEXT_TAG`` (``<tag>-next``, for the
    rolling update: the same image under another tag) and ``SCRM_E2E_OPERATOR_IMAGE``
    (``scrm-operator:dev``)."""

    kubeconfig: Path
    context: str | None
    image: Image
    operator_image: Image

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Existing | None:
        """None without ``SCRM_E2E_KUBECONFIG`` (the assembled control plane is used)."""
        path = env.get("SCRM_E2E_KUBECONFIG")
        if not path:
            return None
        kubeconfig = Path(path).expanduser()
        if not kubeconfig.is_file():
            raise FileNotFoundError(f"SCRM_E2E_KUBECONFIG={path}: no such file")
        return cls(
            kubeconfig=kubeconfig,
            context=env.get("SCRM_E2E_CONTEXT") or None,
            image=parse_image(env.get("SCRM_E2E_IMAGE", "scrm:dev"), env.get("SCRM_E2E_NEXT_TAG")),
            operator_image=parse_image(env.get("SCRM_E2E_OPERATOR_IMAGE", "scrm-operator:dev")),
        )

    def client(self) -> client.ApiClient:
        """An API client for the kubeconfig's chosen (else current) context."""
        return config.new_client_from_config(str(self.kubeconfig), context=self.context)

    def kubectl(self, kubectl: str, *args: str) -> list[str]:
        """A kubectl command line for this cluster."""
        context = [f"--context={self.context}"] if self.context else []
        return [kubectl, f"--kubeconfig={self.kubeconfig}", *context, *args]

    def operator_values(self) -> dict[str, Any]:
        """The chart with the operator image; the tenant's image repository and the
        in-cluster simulator allowed (the chart defaults allow ghcr.io and Meta only)."""
        return {
            "image": {
                "repository": self.operator_image.repository,
                "tag": self.operator_image.tag,
                "pullPolicy": "IfNotPresent",
            },
            "resyncSeconds": 2,
            "gcSeconds": 2,
            "allowedImageRepositories": [self.image.repository],
            "allowedGraphUrls": [f"http://*.svc:{SIMULATOR_PORT}"],
        }


def simulator_manifests(
    namespace: str, image: Image, webhook_url: str, app_secret: str, delays: tuple[float, ...]
) -> list[dict[str, Any]]:
    """The Graph API simulator as a Deployment + Service ``graph-sim`` of the runtime image
    (the package has no simulator command: ``python -c`` builds it from env)."""
    labels = {"app": "graph-sim"}
    script = (
        "import os, uvicorn\n"
        "from runtime.whatsapp.simulator import SimulatorConfig, create_app\n"
        "delays = tuple(float(d) for d in os.environ['RETRY_DELAYS'].split(','))\n"
        "config = SimulatorConfig(webhook_url=os.environ['WEBHOOK_URL'],"
        " app_secret=os.environ['APP_SECRET'], webhook_retry_delays=delays)\n"
        f"uvicorn.run(create_app(config), host='0.0.0.0', port={SIMULATOR_PORT})\n"
    )
    secret_ref = {"secretKeyRef": {"name": "graph-sim", "key": "appSecret"}}
    container = {
        "name": "graph-sim",
        "image": f"{image.repository}:{image.tag}",
        "command": ["python", "-c", script],
        "env": [
            {"name": "WEBHOOK_URL", "value": webhook_url},
            {"name": "RETRY_DELAYS", "value": ",".join(str(d) for d in delays)},
            {"name": "APP_SECRET", "valueFrom": secret_ref},
        ],
        "ports": [{"name": "http", "containerPort": SIMULATOR_PORT}],
        "readinessProbe": {"tcpSocket": {"port": SIMULATOR_PORT}, "periodSeconds": 1},
    }
    meta = {"name": "graph-sim", "namespace": namespace, "labels": labels}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "stringData": {"appSecret": app_secret},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": SIMULATOR_PORT, "targetPort": SIMULATOR_PORT}],
            },
        },
    ]


class OperatorPod:
    """The operator in its own pod: killed by deleting the pod at once (grace 0); its
    Deployment starts another."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.selector = f"app.kubernetes.io/instance={RELEASE}"
        self.killed: set[str] = set()

    def kill(self) -> None:
        pods = self.core.list_namespaced_pod(OPERATOR_NAMESPACE, label_selector=self.selector)
        for pod in pods.items:
            self.killed.add(pod.metadata.uid)
            self.core.delete_namespaced_pod(
                pod.metadata.name, OPERATOR_NAMESPACE, grace_period_seconds=0
            )

    def start(self) -> None:
        def replaced() -> bool:
            pods = self.core.list_namespaced_pod(OPERATOR_NAMESPACE, label_selector=self.selector)
            return any(
                p.metadata.uid not in self.killed
                and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
                for p in pods.items
            )

        wait_until(replaced, "a new operator pod to be Ready", within=180)


class ExistingCluster(Target):
    """An existing cluster: PostgreSQL and RabbitMQ from e2e/kind/services.yaml (applied
    if missing), Services reached through ``kubectl port-forward`` to their ready pods, the
    operator installed by the chart with its image, the simulator as a pod."""

    def __init__(self, settings: Existing, workdir: Path) -> None:
        self.settings = settings
        self.dir = workdir
        self.image = settings.image
        found = shutil.which("kubectl")
        if found is None:
            raise FileNotFoundError("kubectl is not on PATH")
        self.kubectl_path = found
        self.forwards = PortForwards(settings.kubectl(found), workdir / "port-forward.log")

    def start(self) -> None:
        self.api = self.settings.client()
        self._kubectl("apply", f"--filename={SERVICES_MANIFEST}")
        self._kubectl(
            f"--namespace={OPERATOR_NAMESPACE}",
            *("rollout", "status", "deploy/postgres", "deploy/rabbitmq", "--timeout=300s"),
        )
        self.proxy = ServiceProxy(self.api, dial=self.forwards.dial)

    def stop(self) -> None:
        if getattr(self, "proxy", None) is not None:
            self.proxy.stop()
        self.forwards.stop()

    def _kubectl(self, *args: str) -> None:
        command = self.settings.kubectl(self.kubectl_path, *args)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"

    def in_cluster_url(self, namespace: str, service: str, port: str, number: int) -> str:
        return f"http://{service}.{namespace}.svc:{number}"

    def operator_api_url(self, namespace: str, service: str, port: str) -> str | None:
        return None  # the operator's pod resolves the default <tenant>-api.<ns>.svc

    def install_operator(self) -> Operator:
        helm = [shutil.which("helm") or str(helm_binary())]
        helm.append(f"--kubeconfig={self.settings.kubeconfig}")
        if self.settings.context:
            helm.append(f"--kube-context={self.settings.context}")
        install_chart(helm, self.settings.operator_values(), self.dir)
        operator = OperatorPod(self.api)
        operator.start()
        return operator

    def postgres(self) -> tuple[str, Callable[[str], str]]:
        user, password = SERVICES_ADMIN
        host, port = self.proxy.address(OPERATOR_NAMESPACE, "postgres", "")
        for_test = f"postgresql+asyncpg://{user}:{password}@{host}:{port}/postgres"
        server = f"postgres.{OPERATOR_NAMESPACE}.svc:5432"
        return for_test, lambda name: f"postgresql+asyncpg://{user}:{password}@{server}/{name}"

    def rabbitmq_secret(self) -> dict[str, str]:
        user, password = SERVICES_ADMIN
        host = f"rabbitmq.{OPERATOR_NAMESPACE}.svc"
        return {
            "managementUrl": f"http://{user}:{password}@{host}:15672",
            "amqpUrl": f"amqp://{host}:5672/",
        }

    def rabbitmq_management(self) -> str:
        user, password = SERVICES_ADMIN
        host, port = self.proxy.address(OPERATOR_NAMESPACE, "rabbitmq", "management")
        return f"http://{user}:{password}@{host}:{port}"

    @contextlib.contextmanager
    def graph(
        self, namespace: str, webhook_url: str, app_secret: str, retry_delays: tuple[float, ...]
    ) -> Iterator[Graph]:
        """Deleted with the test's namespace."""
        for manifest in simulator_manifests(
            namespace, self.image, webhook_url, app_secret, retry_delays
        ):
            utils.create_from_dict(self.api, manifest)
        in_cluster = self.in_cluster_url(namespace, "graph-sim", "http", SIMULATOR_PORT)
        for_test = self.service_url(namespace, "graph-sim", "http")
        wait_until(
            lambda: self.proxy.endpoints(namespace, "graph-sim", "http"),
            "the simulator pod to be ready",
            within=180,
        )
        yield Graph(in_cluster, for_test)

    def runs(self, pod: client.V1Pod) -> bool:
        return bool(pod.spec.node_name and pod.status.pod_ip)
