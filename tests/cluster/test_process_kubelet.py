"""The process kubelet on a bare etcd + kube-apiserver (pods bound by hand, no scheduler):
env from the pod spec, Secret volumes, pod IP, readiness from the probe, restarts, and
SIGTERM / grace / SIGKILL on deletion."""

from __future__ import annotations

import json
import secrets
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from e2e.process_kubelet import ProcessKubelet, ServiceProxy, dialable
from tests.cluster.cluster import wait_until
from tests.operator.controlplane import ControlPlane, Unavailable, binaries_dir
from tests.services import BUILD_HOW, unavailable

IMAGE = "e2e.local/probe-server"
NODE = "process-test-node"
# The "image": serves GET /ready (200 once the file ``ready`` exists in its cwd, else 503)
# and GET /env (its environment and the files under its Secret volume); on SIGTERM it
# writes ``terminated`` and, with IGNORE_TERM set, keeps running (to be SIGKILLed).
SERVER = textwrap.dedent(
    """
    import http.server, json, os, pathlib, signal, sys
    args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
    def on_term(*_):
        pathlib.Path("terminated").write_text("yes")
        if not os.environ.get("IGNORE_TERM"):
            sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/ready":
                code, body = (200 if os.path.exists("ready") else 503), {}
            else:
                files = {str(p.relative_to("root")): p.read_text()
                         for p in pathlib.Path("root").rglob("*") if p.is_file()}
                code, body = 200, {"env": dict(os.environ), "files": files}
            data = json.dumps(body).encode()
            self.send_response(code); self.send_header("Content-Length", str(len(data)))
            self.end_headers(); self.wfile.write(data)
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer((args["host"], int(args["port"])), Handler).serve_forever()
    """
)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    try:
        binaries = binaries_dir()
    except Unavailable as exc:
        unavailable("control plane", exc, BUILD_HOW)
    control = ControlPlane(tmp_path_factory.mktemp("kubelet-plane"), binaries)
    try:
        control.start()
        yield control
    finally:
        control.stop()


@pytest.fixture(scope="module")
def kubelet(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    api = config.new_client_from_config(str(plane.kubeconfig))
    running = ProcessKubelet(
        api, NODE, {IMAGE: [sys.executable, "-c", SERVER]}, tmp_path_factory.mktemp("pods")
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def core(plane: ControlPlane, kubelet: ProcessKubelet) -> Iterator[client.CoreV1Api]:
    api = client.CoreV1Api(config.new_client_from_config(str(plane.kubeconfig)))
    name = f"kubelet-{secrets.token_hex(3)}"
    api.create_namespace({"metadata": {"name": name}})
    api.create_namespaced_secret(
        name, {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret", "a": "1"}}
    )
    api.create_namespaced_config_map(
        name, {"metadata": {"name": "settings"}, "data": {"MODE": "routed", "LEVEL": "debug"}}
    )
    api.namespace = name  # type: ignore[attr-defined]
    yield api


def pod(name: str, **container: Any) -> dict[str, Any]:
    spec = {
        "name": "main",
        "image": f"{IMAGE}:1.0",
        "args": ["--port=8080"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
        **container,
    }
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": NODE, "containers": [spec], "terminationGracePeriodSeconds": 2},
    }


def read(core: client.CoreV1Api, name: str) -> client.V1Pod:
    return core.read_namespaced_pod(name, core.namespace)  # type: ignore[attr-defined]


def is_ready(p: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])


def directory(kubelet: ProcessKubelet, core: client.CoreV1Api, name: str) -> Path:
    uid = read(core, name).metadata.uid
    return kubelet.workdir / core.namespace / f"{name}-{uid[:8]}"  # type: ignore[attr-defined]


def test_pod_runs_with_its_env_volumes_address_and_readiness(
    core: client.CoreV1Api, kubelet: ProcessKubelet
) -> None:
    ns = core.namespace  # type: ignore[attr-defined]
    manifest = pod(
        "web",
        env=[
            {"name": "PLAIN", "value": "x"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
            },
            {
                "name": "LEVEL_COPY",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}},
            },
        ],
        envFrom=[{"configMapRef": {"name": "settings"}}],
        volumeMounts=[{"name": "creds", "mountPath": "/var/run/secrets/app"}],
    )
    manifest["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "creds"}}]
    core.create_namespaced_pod(ns, manifest)
    running = wait_until(lambda: read(core, "web").status.phase == "Running", "phase Running")
    assert running
    status = read(core, "web").status
    assert status.pod_ip.startswith("198.18.") and not is_ready(read(core, "web"))
    (directory(kubelet, core, "web") / "ready").write_text("")
    wait_until(lambda: is_ready(read(core, "web")), "the readiness probe to pass")
    with urllib.request.urlopen(
        f"http://{dialable(status.pod_ip)}:8080/env", timeout=5
    ) as response:
        seen = json.loads(response.read())
    env = seen["env"]
    assert (env["PLAIN"], env["POD_NAME"], env["PASSWORD"]) == ("x", "web", "s3cret")
    assert (env["MODE"], env["LEVEL"], env["LEVEL_COPY"]) == ("routed", "debug", "debug")
    assert seen["files"] == {
        "var/run/secrets/app/password": "s3cret",
        "var/run/secrets/app/a": "1",
    }
    (directory(kubelet, core, "web") / "ready").unlink()
    wait_until(lambda: not is_ready(read(core, "web")), "readiness lost after 3 failed probes")


def test_missing_secret_key_keeps_the_pod_pending_with_the_reason(
    core: client.CoreV1Api,
) -> None:
    ns = core.namespace  # type: ignore[attr-defined]
    ref = {"secretKeyRef": {"name": "creds", "key": "nope"}}
    core.create_namespaced_pod(ns, pod("broken", env=[{"name": "X", "valueFrom": ref}]))
    status = wait_until(
        lambda: (
            read(core, "broken").status.reason == "CreateContainerConfigError"
            and read(core, "broken").status
        ),
        "CreateContainerConfigError",
    )
    assert status.phase == "Pending" and "'nope'" in status.message


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(
    core: client.CoreV1Api, kubelet: ProcessKubelet
) -> None:
    ns = core.namespace  # type: ignore[attr-defined]
    core.create_namespaced_pod(ns, pod("stubborn", env=[{"name": "IGNORE_TERM", "value": "1"}]))
    wait_until(lambda: read(core, "stubborn").status.phase == "Running", "phase Running")
    where = directory(kubelet, core, "stubborn")
    (where / "ready").write_text("")  # serving: its SIGTERM handler is installed
    wait_until(lambda: is_ready(read(core, "stubborn")), "the readiness probe to pass")
    started = time.monotonic()
    core.delete_namespaced_pod("stubborn", ns)
    wait_until(lambda: (where / "terminated").exists(), "SIGTERM to reach the process")
    gone = wait_until(
        lambda: not core.list_namespaced_pod(ns, field_selector="metadata.name=stubborn").items,
        "the kubelet's final delete",
    )
    assert gone and time.monotonic() - started >= 2  # it waited out the 2 s grace
    ending = kubelet.endings[(ns, "stubborn")]
    assert ending.signal == "SIGKILL" and ending.seconds >= 2


def test_a_pod_that_exits_on_sigterm_is_recorded_as_ended_by_sigterm(
    core: client.CoreV1Api, kubelet: ProcessKubelet
) -> None:
    ns = core.namespace  # type: ignore[attr-defined]
    core.create_namespaced_pod(ns, pod("polite"))
    wait_until(lambda: read(core, "polite").status.phase == "Running", "phase Running")
    (directory(kubelet, core, "polite") / "ready").write_text("")
    wait_until(lambda: is_ready(read(core, "polite")), "the readiness probe to pass")
    core.delete_namespaced_pod("polite", ns)
    ending = wait_until(lambda: kubelet.endings.get((ns, "polite")), "the pod to end")
    assert ending.signal == "SIGTERM" and ending.seconds < 2


def test_finished_pod_succeeds_and_failed_one_restarts_on_failure(
    core: client.CoreV1Api,
) -> None:
    ns = core.namespace  # type: ignore[attr-defined]
    quick = {"command": [sys.executable, "-c", "import sys; sys.exit(0)"]}
    done = pod("done", **quick)
    done["spec"]["restartPolicy"] = "OnFailure"
    done["spec"]["containers"][0].pop("readinessProbe")
    core.create_namespaced_pod(ns, done)
    wait_until(lambda: read(core, "done").status.phase == "Succeeded", "phase Succeeded")
    failing = pod("failing", command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    failing["spec"]["restartPolicy"] = "OnFailure"
    core.create_namespaced_pod(ns, failing)
    restarted = wait_until(
        lambda: read(core, "failing").status.container_statuses[0].restart_count >= 2,
        "restarts with back-off",
    )
    assert restarted


def test_service_proxy_forwards_to_ready_endpoints_only(
    plane: ControlPlane, core: client.CoreV1Api, kubelet: ProcessKubelet
) -> None:
    """No endpoint-slice controller runs here: the slice is written by hand."""
    ns = core.namespace  # type: ignore[attr-defined]
    api = config.new_client_from_config(str(plane.kubeconfig))
    proxy = ServiceProxy(api)
    try:
        url = proxy.url(ns, "web", "http")
        core.create_namespaced_pod(ns, pod("backend"))
        ip = wait_until(lambda: read(core, "backend").status.pod_ip, "a pod IP")
        (directory(kubelet, core, "backend") / "ready").write_text("")
        wait_until(lambda: is_ready(read(core, "backend")), "the backend to serve")
        endpoint = {"addresses": [ip], "conditions": {"ready": True}}
        client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
            ns,
            {
                "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4",
                "endpoints": [endpoint],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            },
        )
        with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
            assert response.status == 200
        assert proxy.endpoints(ns, "web", "http") == [(dialable(ip), 8080)]
    finally:
        proxy.stop()
