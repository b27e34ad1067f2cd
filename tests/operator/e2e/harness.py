"""Helpers for the control-plane tests: the operator under KopfRunner, an admin client,
waits with deadlines, and small local servers (Graph simulator, fake runtime api)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import kopf
import yaml
from kopf.testing import KopfRunner
from kubernetes.client.exceptions import ApiException
from scrm_operator import names
from scrm_operator.kube import Kube, resource_path

from tests.operator.controlplane import free_port
from tests.services import require_rabbitmq
from tests.support import served_in_thread

T = TypeVar("T")
DEADLINE = 30.0
REPO = Path(__file__).resolve().parents[3]


def eventually(
    check: Callable[[], T | None], what: str, within: float = DEADLINE, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    end = time.monotonic() + within
    last: Any = None
    while time.monotonic() < end:
        try:
            result = check()
        except (ApiException, KeyError, TypeError, IndexError) as exc:
            result, last = None, exc
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what} (last error: {last})")


class Operator:
    """The operator in a thread (``kopf run -m scrm_operator``), restartable; every
    namespace, or only ``namespace``."""

    def __init__(self, kubeconfig: Path, namespace: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.scope = [f"--namespace={namespace}"] if namespace else ["--all-namespaces"]
        self.runner: KopfRunner | None = None

    def start(self) -> None:
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        self.runner = KopfRunner(
            ["run", *self.scope, "--standalone", "-m", "scrm_operator"],
            settings=kopf.OperatorSettings(),
            timeout=60,
        )
        self.runner.__enter__()

    def stop(self) -> None:
        assert self.runner is not None
        self.runner.__exit__(None, None, None)
        runner, self.runner = self.runner, None
        assert runner.exception is None, runner.output
        assert runner.exit_code == 0, runner.output


class Cluster:
    """Admin access for the tests (not the operator's restricted identity)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def tenant(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(names.API_VERSION, "ScrmTenant", namespace, name)

    def status(self, namespace: str, name: str, kind: str = "ScrmTenant") -> dict[str, Any]:
        body = self.kube.get(names.API_VERSION, kind, namespace, name) or {}
        return body.get("status") or {}

    def ready(self, namespace: str, name: str, kind: str = "ScrmTenant") -> dict[str, Any]:
        conditions = self.status(namespace, name, kind).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), {})

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        result: dict[str, Any] = self.kube.request("POST", path, body=manifest)
        return result

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        subresource: str = "",
    ) -> dict[str, Any]:
        path = resource_path(api_version, kind, namespace, name) + subresource
        result: dict[str, Any] = self.kube.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
        return result

    def namespace(self, name: str) -> None:
        self.kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})

    def tenant_namespace(self, name: str) -> None:
        """A namespace with the broker, database and WhatsApp Secrets a tenant refers to."""
        amqp_url, api_url = require_rabbitmq()
        self.namespace(name)
        self.secret(name, "broker", {"managementUrl": api_url, "amqpUrl": amqp_url})
        self.secret(name, "db", {"url": "postgresql+asyncpg://unused@127.0.0.1/unused"})
        self.secret(name, "whatsapp", {"appSecret": "app-secret", "verifyToken": "verify"})

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Events about the object ``name`` in ``namespace`` (core/v1)."""
        items = self.kube.request("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
        return [e for e in items if e["involvedObject"].get("name") == name]

    def secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace},
                "stringData": data,
            }
        )

    def delete_all(self, namespace: str, kind: str) -> None:
        """Delete every object of a scrm.io kind and wait until the finalizers let go."""
        path = resource_path(names.API_VERSION, kind, namespace)
        for item in self.kube.request("GET", path)["items"]:
            self.kube.delete(names.API_VERSION, kind, namespace, item["metadata"]["name"])
        eventually(lambda: not self.kube.request("GET", path)["items"], f"{kind}s to be gone")

    def crds_established(self) -> bool:
        root = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        return all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (self.kube.request("GET", root + crd).get("status") or {}).get(
                    "conditions", []
                )
            )
            for crd in ("scrmtenants.scrm.io", "senders.scrm.io")
        )

    def install(self, path: Path) -> None:
        for doc in yaml.safe_load_all(path.read_text()):
            self.kube.request(
                "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=doc
            )


@dataclass
class Recorder:
    """A fake tenant api: records internal calls and answers 200 (or ``status``)."""

    port: int = field(default_factory=free_port)
    calls: list[tuple[str, str, str, Any]] = field(default_factory=list)
    status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def running(self) -> Iterator[Recorder]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                auth = self.headers.get("Authorization", "")
                recorder.calls.append((self.command, self.path, auth, body))
                self.send_response(recorder.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_PUT = do_DELETE = record

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port; yields its base URL."""
    with served_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}"


def tenant_manifest(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """A minimal ScrmTenant; the API server fills in the CRD defaults."""
    return {
        "apiVersion": names.API_VERSION,
        "kind": "ScrmTenant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "displayName": f"Tenant {name}",
            "database": {"urlSecretRef": {"name": "db", "key": "url"}},
            "rabbitmq": {"secretRef": {"name": "broker"}},
            "whatsapp": {
                "appSecretRef": {"name": "whatsapp", "key": "appSecret"},
                "verifyTokenRef": {"name": "whatsapp", "key": "verifyToken"},
            },
            **spec,
        },
    }


def mark_children_ready(cluster: Cluster, ns: str, t: str) -> None:
    """Play the controllers a bare API server lacks: Deployments available, Job succeeded."""
    for name in (f"{t}-api", f"{t}-ws", f"{t}-sender-worker"):
        deployment = cluster.kube.get("apps/v1", "Deployment", ns, name)
        assert deployment is not None
        replicas = deployment["spec"]["replicas"]
        status = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "updatedReplicas": replicas,
        }
        cluster.merge_patch("apps/v1", "Deployment", ns, name, {"status": status}, "/status")
    (job,) = cluster.kube.list("batch/v1", "Job", ns, f"{names.TENANT_LABEL}={t}")
    now = "2026-01-01T00:00:00Z"
    job_status = {
        "succeeded": 1,
        "startTime": now,
        "completionTime": now,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now},
        ],
    }
    cluster.merge_patch(
        "batch/v1", "Job", ns, job["metadata"]["name"], {"status": job_status}, "/status"
    )


def wait_reconciled(cluster: Cluster, ns: str, t: str, generation: int) -> dict[str, Any]:
    return eventually(
        lambda: (
            cluster.status(ns, t).get("observedGeneration") == generation and cluster.ready(ns, t)
        ),
        f"generation {generation} to be reconciled",
    )


def failed_with(cluster: Cluster, ns: str, t: str, reason: str) -> dict[str, Any]:
    return eventually(
        lambda: cluster.ready(ns, t).get("reason") == reason and cluster.ready(ns, t),
        f"Ready=False with reason {reason}",
    )


def warned(cluster: Cluster, ns: str, t: str, reason: str) -> dict[str, Any]:
    return eventually(
        lambda: next(
            (e for e in cluster.events(ns, t) if e["type"] == "Warning" and e["reason"] == reason),
            None,
        ),
        f"a Warning Event {reason}",
    )
