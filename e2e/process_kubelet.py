"""A process kubelet for tests: it runs the project's pods as local processes.

It registers a Node, keeps its Lease fresh, and for every Pod bound to that node whose image
is one it knows (the project's) starts each container's command as a process on this machine:

- command: the image's entrypoint (given per image repository) + the container's ``args``;
- env: ``env`` (values, ``valueFrom`` Secret/ConfigMap keys, ``fieldRef`` pod fields) and
  ``envFrom`` (ConfigMaps, Secrets) over a few inherited variables (PATH, PYTHONPATH...);
- volumes: Secret, ConfigMap and emptyDir volumes materialised under the pod's directory,
  the mount path re-rooted there (processes share one filesystem);
- network: each pod gets its own loopback address 127.1.x.y to serve on; a container that
  declares ports is told to bind there (``--host=127.1.x.y``), so every pod serves its
  container ports unchanged. EndpointSlices refuse loopback addresses, so the pod IP in
  its status is 198.18.x.y (the benchmarking range, never routed nor dialled here), and
  ``dialable()`` turns it back into 127.1.x.y;
- readiness: the container's own ``readinessProbe`` (httpGet or tcpSocket), reported with
  phase, pod IP and container states in the pod's status;
- restarts per ``restartPolicy``; on deletion SIGTERM, ``terminationGracePeriodSeconds``,
  SIGKILL, then the final zero-grace delete a kubelet makes.

Pods of other images stay Pending here: bind them to a kwok node instead (the cluster
fixture taints the kwok node and gives only the non-project pods a toleration).

``ServiceProxy`` plays kube-proxy: each Service port it is asked for is a loopback listener
that forwards to the ready endpoints of the Service's EndpointSlices, in turn.
docs/process-kubelet.md describes both.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("process-kubelet")

Json = dict[str, Any]
INHERITED_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "VIRTUAL_ENV", "SSL_CERT_FILE")
SYNC_SECONDS = 0.25
LEASE_SECONDS = 40


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """Raw JSON calls on the official client (status patches need chosen content types)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method, url, headers, _, _ = self.api.param_serialize(
            method, path, header_params=headers, auth_settings=["BearerToken"]
        )
        response = self.api.call_api(method, url, header_params=headers, body=body)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def get(self, path: str) -> Any:
        try:
            return self.request("GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's (decoded) or ConfigMap's data; None when it does not exist."""
        body = self.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
        if body is None:
            return None
        if kind == "secrets":
            return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}
        return dict(body.get("data") or {})


def repository(image: str) -> str:
    """``ghcr.io/scrm/scrm:0.1.0`` (or ``...@sha256:...``) -> ``ghcr.io/scrm/scrm``."""
    name = image.split("@")[0]
    head, _, tag = name.rpartition(":")
    return head if head and "/" not in tag else name


class ConfigError(RuntimeError):
    """A referenced Secret, ConfigMap or key is missing (kubelet: CreateContainerConfigError)."""


POD_NETWORK, LOOPBACK_NETWORK = "198.18.", "127.1."


def _host_parts() -> Iterator[str]:
    """ "0.1", "0.2", ...: each pod's address suffix, never reused within a run."""
    for high, low in itertools.product(range(256), range(1, 255)):
        yield f"{high}.{low}"


def dialable(pod_ip: str) -> str:
    """The loopback address a pod IP of this kubelet serves on (others pass unchanged)."""
    return (
        LOOPBACK_NETWORK + pod_ip.removeprefix(POD_NETWORK)
        if pod_ip.startswith(POD_NETWORK)
        else pod_ip
    )


@dataclass
class Container:
    spec: Json
    process: subprocess.Popen[bytes] | None = None
    ready: bool = False
    restarts: int = 0
    started_at: str = ""
    exit_code: int | None = None
    probe_failures: int = 0
    next_probe: float = 0.0


@dataclass(frozen=True)
class Ending:
    """How a deleted pod's processes ended: ``SIGTERM`` (all exited within the grace
    period) or ``SIGKILL`` (one had to be killed), and how long after the SIGTERM."""

    signal: str
    seconds: float


@dataclass
class PodRunner:
    """One pod's processes, from start to the final delete, in a thread of its own."""

    api: Api
    pod: Json
    ip: str  # the pod IP in its status (198.18.x.y); it serves on dialable(ip)
    directory: Path
    entrypoints: Mapping[str, Sequence[str]]
    endings: dict[tuple[str, str], Ending]  # the kubelet's record, by (namespace, name)
    containers: list[Container] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    grace: float = 30.0
    thread: threading.Thread | None = None

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)
        self.thread.start()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def terminate(self, grace: float) -> None:
        self.grace = grace
        self.stopping.set()

    # -- the pod's life ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._live()
        except Exception:  # a crashed runner must not leave processes behind
            log.exception("pod %s/%s: runner failed", self.namespace, self.name)
        finally:
            self._stop_processes()
            self._final_delete()

    def _live(self) -> None:
        env = self._prepared_env()
        if env is None:
            return
        self.containers = [Container(spec) for spec in self.pod["spec"]["containers"]]
        for container in self.containers:
            self._spawn(container, env[container.spec["name"]])
        self._report()
        policy = self.pod["spec"].get("restartPolicy", "Always")
        while not self.stopping.wait(0.1):
            changed = any([self._probe(c) for c in self.containers])
            changed |= any([self._reap(c, env[c.spec["name"]], policy) for c in self.containers])
            if changed:
                self._report()
            if all(c.process is None for c in self.containers):
                return  # finished for good (Succeeded or Failed): no final delete

    def _prepared_env(self) -> dict[str, dict[str, str]] | None:
        """Each container's environment; on a missing reference the pod waits (and says so)."""
        while not self.stopping.is_set():
            try:
                self._materialise_volumes()
                return {c["name"]: self._env(c) for c in self.pod["spec"]["containers"]}
            except ConfigError as exc:
                self._patch_status(
                    {
                        "phase": "Pending",
                        "message": str(exc),
                        "reason": "CreateContainerConfigError",
                    }
                )
                self.stopping.wait(1)
        return None

    def _spawn(self, container: Container, env: dict[str, str]) -> None:
        spec = container.spec
        command = list(spec.get("command") or self.entrypoints[repository(spec["image"])])
        args = list(spec.get("args") or [])
        if spec.get("ports"):
            args.append(f"--host={dialable(self.ip)}")
        logfile = (self.directory / f"{spec['name']}.log").open("ab")
        container.process = subprocess.Popen(
            [*command, *args],
            env=env,
            cwd=self.directory,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()
        container.started_at, container.ready, container.exit_code = now(), False, None
        probe = spec.get("readinessProbe") or {}
        container.next_probe = time.monotonic() + probe.get("initialDelaySeconds", 0)
        container.probe_failures = 0

    def _reap(self, container: Container, env: dict[str, str], policy: str) -> bool:
        """A container that exited: restarted per policy, else left finished. True if changed."""
        if container.process is None or container.process.poll() is None:
            return False
        container.exit_code = container.process.returncode
        container.ready, container.process = False, None
        if policy == "Always" or (policy == "OnFailure" and container.exit_code != 0):
            container.restarts += 1
            self.stopping.wait(min(10, 0.5 * 2**container.restarts))  # CrashLoopBackOff
            if not self.stopping.is_set():
                self._spawn(container, env)
        return True

    def _probe(self, container: Container) -> bool:
        """Run the readiness probe when due; True if readiness changed."""
        probe = container.spec.get("readinessProbe")
        if container.process is None:
            return False
        if probe is None:
            was, container.ready = container.ready, True
            return not was
        if time.monotonic() < container.next_probe:
            return False
        container.next_probe = time.monotonic() + probe.get("periodSeconds", 10)
        ok = self._check(container.spec, probe)
        container.probe_failures = 0 if ok else container.probe_failures + 1
        ready = ok or (
            container.ready and container.probe_failures < probe.get("failureThreshold", 3)
        )
        was, container.ready = container.ready, ready
        return was != ready

    def _check(self, spec: Json, probe: Json) -> bool:
        timeout = probe.get("timeoutSeconds", 1)
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self._port(spec, get["port"])
            url = f"http://{dialable(self.ip)}:{port}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    return 200 <= response.status < 400
            except OSError:
                return False
        if "tcpSocket" in probe:
            try:
                port = self._port(spec, probe["tcpSocket"]["port"])
                with socket.create_connection((dialable(self.ip), port), timeout=timeout):
                    return True
            except OSError:
                return False
        return True  # exec probes are not run: a process has no image filesystem to exec in

    @staticmethod
    def _port(spec: Json, port: int | str) -> int:
        if isinstance(port, int) or port.isdigit():
            return int(port)
        return next(int(p["containerPort"]) for p in spec["ports"] if p.get("name") == port)

    def _stop_processes(self) -> None:
        running = [c.process for c in self.containers if c.process and c.process.poll() is None]
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        began = time.monotonic()
        deadline = began + self.grace
        how = "SIGTERM"
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                how = "SIGKILL"
        if running and self.stopping.is_set():
            self.endings[(self.namespace, self.name)] = Ending(how, time.monotonic() - began)

    def _final_delete(self) -> None:
        if not self.stopping.is_set():
            return
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        uid = self.pod["metadata"]["uid"]
        body["preconditions"] = {"uid": uid}
        try:
            self.api.request("DELETE", self.path, body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    # -- status --------------------------------------------------------------------------

    def _report(self) -> None:
        finished = all(c.process is None for c in self.containers)
        if finished:
            failed = any(c.exit_code for c in self.containers)
            phase = "Failed" if failed else "Succeeded"
        else:
            phase = "Running"
        ready = not finished and all(c.ready for c in self.containers)
        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": self.pod["status"].get("startTime") or now(),
            "conditions": [
                self._condition("PodReadyToStartContainers", True),
                self._condition("Initialized", True),
                self._condition("ContainersReady", ready),
                self._condition("Ready", ready),
            ],
            "containerStatuses": [self._container_status(c) for c in self.containers],
        }
        self._patch_status(status)

    def _condition(self, kind: str, value: bool) -> Json:
        return {"type": kind, "status": "True" if value else "False", "lastTransitionTime": now()}

    def _container_status(self, container: Container) -> Json:
        if container.process is not None:
            state: Json = {"running": {"startedAt": container.started_at}}
        else:
            state = {
                "terminated": {
                    "exitCode": container.exit_code or 0,
                    "reason": "Completed" if not container.exit_code else "Error",
                    "startedAt": container.started_at,
                    "finishedAt": now(),
                }
            }
        return {
            "name": container.spec["name"],
            "image": container.spec["image"],
            "imageID": container.spec["image"],
            "containerID": f"process://{container.process.pid if container.process else 0}",
            "ready": container.ready,
            "started": container.process is not None,
            "restartCount": container.restarts,
            "state": state,
        }

    def _patch_status(self, status: Json) -> None:
        try:
            self.api.request(
                "PATCH",
                self.path + "/status",
                {"status": status},
                "application/strategic-merge-patch+json",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- environment and volumes ---------------------------------------------------------

    def _env(self, spec: Json) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
                if key in source:
                    ref = source[key]
                    values = self.api.data(kind, self.namespace, ref["name"])
                    if values is None and not ref.get("optional"):
                        raise ConfigError(f"{kind[:-1]} {ref['name']!r} not found")
                    env |= {prefix + k: v for k, v in (values or {}).items()}
        for variable in spec.get("env") or []:
            value = self._value(variable)
            if value is not None:
                env[variable["name"]] = value
        return env

    def _value(self, variable: Json) -> str | None:
        if "valueFrom" not in variable:
            return str(variable.get("value", ""))
        source = variable["valueFrom"]
        if "fieldRef" in source:
            return self._field(source["fieldRef"]["fieldPath"])
        for kind, key in (("secrets", "secretKeyRef"), ("configmaps", "configMapKeyRef")):
            if key in source:
                ref = source[key]
                values = self.api.data(kind, self.namespace, ref["name"]) or {}
                if ref["key"] not in values:
                    if ref.get("optional"):
                        return None
                    raise ConfigError(f"{kind[:-1]} {ref['name']!r} has no key {ref['key']!r}")
                return values[ref["key"]]
        raise ConfigError(f"unsupported valueFrom in {variable['name']}")

    def _field(self, path: str) -> str:
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": self.pod["metadata"]["uid"],
            "spec.nodeName": self.pod["spec"]["nodeName"],
            "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": self.ip,
            "status.hostIP": "127.0.0.1",
        }
        if path not in fields:
            raise ConfigError(f"unsupported fieldRef {path}")
        return fields[path]

    def _materialise_volumes(self) -> None:
        mounts = {
            m["name"]: m["mountPath"]
            for c in self.pod["spec"]["containers"]
            for m in c.get("volumeMounts") or []
        }
        for volume in self.pod["spec"].get("volumes") or []:
            target = (
                self.directory / "root" / mounts.get(volume["name"], volume["name"]).lstrip("/")
            )
            target.mkdir(parents=True, exist_ok=True)
            for kind, key, name_field in (
                ("secrets", "secret", "secretName"),
                ("configmaps", "configMap", "name"),
            ):
                if key in volume:
                    ref = volume[key]
                    values = self.api.data(kind, self.namespace, ref[name_field])
                    if values is None:
                        if ref.get("optional"):
                            continue
                        raise ConfigError(f"{key} volume {ref[name_field]!r} not found")
                    for item, value in values.items():
                        (target / item).write_text(value)
                        (target / item).chmod(ref.get("defaultMode", 0o644))


class ProcessKubelet:
    """``start()`` registers the node and begins running its pods; ``stop()`` ends them."""

    def __init__(
        self,
        api: client.ApiClient,
        node: str,
        entrypoints: Mapping[str, Sequence[str]],
        workdir: Path,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.api = Api(api)
        self.node = node
        self.entrypoints = dict(entrypoints)
        self.workdir = workdir
        self.labels = dict(labels or {})
        self.pods: dict[str, PodRunner] = {}  # uid -> runner
        self.endings: dict[tuple[str, str], Ending] = {}  # deleted pods, by (namespace, name)
        self.addresses = _host_parts()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="process-kubelet", daemon=True)

    def start(self) -> None:
        self._register()
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)
        for runner in self.pods.values():
            runner.terminate(0)
        for runner in self.pods.values():
            if runner.thread is not None:
                runner.thread.join(15)

    def runs(self, pod: Json) -> bool:
        """True for pods whose every container has an image this kubelet knows."""
        return all(repository(c["image"]) in self.entrypoints for c in pod["spec"]["containers"])

    def _register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {"kubernetes.io/hostname": self.node, **self.labels},
            },
        }
        try:
            self.api.request("POST", "/api/v1/nodes", node)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._node_status()

    def _node_status(self) -> None:
        stamp = now()
        status = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "capacity": {"cpu": "32", "memory": "64Gi", "pods": "250"},
            "allocatable": {"cpu": "32", "memory": "64Gi", "pods": "250"},
            "nodeInfo": {"kubeletVersion": "process-kubelet", "architecture": "amd64"},
        }
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{self.node}/status",
            {"status": status},
            "application/strategic-merge-patch+json",
        )

    def _renew_lease(self) -> None:
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": stamp,
            },
        }
        try:
            self.api.request("PATCH", f"{path}/{self.node}", lease, "application/merge-patch+json")
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.api.request("POST", path, lease)

    def _loop(self) -> None:
        last_heartbeat = 0.0
        while not self.stopped.wait(SYNC_SECONDS):
            try:
                if time.monotonic() - last_heartbeat > 5:
                    self._renew_lease()
                    self._node_status()
                    last_heartbeat = time.monotonic()
                self._sync()
            except Exception:  # the API server may be busy; the next round retries
                log.exception("process kubelet: sync failed")

    def _sync(self) -> None:
        listed = self.api.request("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.node}")
        seen = set()
        for pod in listed["items"]:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            runner = self.pods.get(uid)
            deleting = pod["metadata"].get("deletionTimestamp") is not None
            if runner is None and not deleting and self._startable(pod):
                runner = self._runner(pod)
                self.pods[uid] = runner
                runner.start()
            if runner is not None and deleting and not runner.stopping.is_set():
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                runner.terminate(float(30 if grace is None else grace))
            elif deleting and (runner is None or not runner.alive):
                self._delete_now(pod)  # never ran here, or finished: nothing to stop
        for uid in set(self.pods) - seen:
            self.pods.pop(uid).terminate(0)

    def _startable(self, pod: Json) -> bool:
        phase = (pod.get("status") or {}).get("phase")
        return self.runs(pod) and phase not in ("Succeeded", "Failed")

    def _runner(self, pod: Json) -> PodRunner:
        meta = pod["metadata"]
        directory = self.workdir / meta["namespace"] / f"{meta['name']}-{meta['uid'][:8]}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        pod.setdefault("status", {})
        ip = POD_NETWORK + next(self.addresses)
        return PodRunner(self.api, pod, ip, directory, self.entrypoints, self.endings)

    def _delete_now(self, pod: Json) -> None:
        """A pod of an unknown image, or one already finished, being deleted: nothing runs."""
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        try:
            self.api.request("DELETE", path, body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise


# Where to connect for an EndpointSlice endpoint of a namespace at a port.
Dial = Callable[[str, Json, int], tuple[str, int]]


def direct(namespace: str, endpoint: Json, port: int) -> tuple[str, int]:
    """The endpoint's pod address as it can be dialled here (see ``dialable``)."""
    return dialable(endpoint["addresses"][0]), port


class ServiceProxy:
    """kube-proxy's part for tests: ``address(ns, service, port)`` is a loopback listener
    (allocated on first call, before the Service may exist) that forwards each connection
    to the next ready endpoint of the Service's EndpointSlices; with none, it closes it.
    ``dial`` says how an endpoint is reached: directly, or through a port-forward."""

    def __init__(self, api: client.ApiClient, dial: Dial = direct) -> None:
        self.api = Api(api)
        self.dial = dial
        self.loop = asyncio.new_event_loop()
        self.listeners: dict[tuple[str, str, str], tuple[str, int]] = {}
        self.turns: dict[tuple[str, str, str], Iterator[int]] = {}  # round robin per port
        self.servers: list[asyncio.Server] = []
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy", daemon=True)
        self.thread.start()

    def address(self, namespace: str, service: str, port: str) -> tuple[str, int]:
        key = (namespace, service, port)
        if key not in self.listeners:
            future = asyncio.run_coroutine_threadsafe(self._listen(key), self.loop)
            self.listeners[key] = future.result(10)
        return self.listeners[key]

    def url(self, namespace: str, service: str, port: str, scheme: str = "http") -> str:
        host, number = self.address(namespace, service, port)
        return f"{scheme}://{host}:{number}"

    def endpoints(self, namespace: str, service: str, port: str) -> list[tuple[str, int]]:
        """Ready (dialable address, port) pairs of the Service's port named ``port``."""
        slices = self.api.request(
            "GET",
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            f"?labelSelector=kubernetes.io%2Fservice-name%3D{service}",
        )["items"]
        found = []
        for piece in slices:
            numbers = [p["port"] for p in piece.get("ports") or [] if p.get("name", "") == port]
            for endpoint in piece.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready"):
                    found += [self.dial(namespace, endpoint, n) for n in numbers]
        return sorted(found)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _close(self) -> None:
        for server in self.servers:
            server.close()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    async def _listen(self, key: tuple[str, str, str]) -> tuple[str, int]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await self._forward(key, reader, writer)
            except asyncio.CancelledError:  # the proxy stops: drop the connection quietly
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.servers.append(server)
        self.turns[key] = itertools.count()
        host, number = server.sockets[0].getsockname()[:2]
        return str(host), int(number)

    async def _forward(
        self, key: tuple[str, str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            targets = await asyncio.to_thread(self.endpoints, *key)
            if not targets:
                return
            host, number = targets[next(self.turns[key]) % len(targets)]
            upstream_reader, upstream_writer = await asyncio.open_connection(host, number)
        except (OSError, ApiException):
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )
        for end in (writer, upstream_writer):
            end.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close (the other direction may still talk)."""
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
