"""Reaching pods of an existing cluster (kind) from the test process: one
``kubectl port-forward pod/<name> :<port>`` per pod and port, started on first use.

``ServiceProxy`` (e2e/process_kubelet.py) keeps playing kube-proxy, reading the Service's
ready endpoints and taking them in turn; its ``dial`` is :meth:`PortForwards.dial` here, so
"through the Service" means the same on kind as on the process kubelet's cluster. A
``kubectl port-forward svc/...`` would pin every connection to one pod."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

FORWARDING = re.compile(r"^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)\s*$")
START_SECONDS = 20.0


def port_forward_command(kubectl: list[str], namespace: str, pod: str, port: int) -> list[str]:
    """``kubectl`` is the command with its cluster options; kubectl picks a free local port
    (``:<port>``) on loopback only."""
    return [
        *kubectl,
        f"--namespace={namespace}",
        "port-forward",
        "--address=127.0.0.1",
        f"pod/{pod}",
        f":{port}",
    ]


def forwarded_port(line: str, remote: int) -> int | None:
    """The local port of kubectl's ``Forwarding from 127.0.0.1:<local> -> <remote>``."""
    found = FORWARDING.match(line)
    if found is None or int(found.group(2)) != remote:
        return None
    return int(found.group(1))


class PortForwards:
    """Running ``kubectl port-forward`` processes by (namespace, pod, port); a forward
    whose process ended (its pod went away) is started again on the next use."""

    def __init__(self, kubectl: list[str], log: Path) -> None:
        self.kubectl = kubectl
        self.log = log
        self.lock = threading.Lock()
        self.running: dict[tuple[str, str, int], tuple[subprocess.Popen[str], int]] = {}

    def dial(self, namespace: str, endpoint: dict[str, Any], port: int) -> tuple[str, int]:
        """``ServiceProxy``'s dial: the endpoint's pod (``targetRef``) through a forward."""
        target = endpoint.get("targetRef") or {}
        if target.get("kind") != "Pod":
            raise OSError(f"endpoint {endpoint.get('addresses')} names no pod to forward to")
        return "127.0.0.1", self.local_port(namespace, target["name"], port)

    def local_port(self, namespace: str, pod: str, port: int) -> int:
        key = (namespace, pod, port)
        with self.lock:
            found = self.running.get(key)
            if found is not None and found[0].poll() is None:
                return found[1]
            process, local = self._start(*key)
            self.running[key] = (process, local)
            return local

    def stop(self) -> None:
        with self.lock:
            for process, _ in self.running.values():
                process.terminate()
            for process, _ in self.running.values():
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
            self.running.clear()

    def _start(self, namespace: str, pod: str, port: int) -> tuple[subprocess.Popen[str], int]:
        command = port_forward_command(self.kubectl, namespace, pod, port)
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        # kubectl writes a line per connection: drained for as long as it runs (into the
        # log), or it would block on a full pipe.
        threading.Thread(target=self._drain, args=(process.stdout, lines), daemon=True).start()
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=START_SECONDS)
            except queue.Empty:
                break
            if not line:  # kubectl ended
                break
            seen.append(line)
            local = forwarded_port(line, port)
            if local is not None:
                return process, local
        process.kill()
        raise OSError(f"kubectl port-forward to {namespace}/{pod}:{port} failed: {seen[-5:]}")

    def _drain(self, stream: IO[str], lines: queue.Queue[str]) -> None:
        with self.log.open("a") as out:
            for line in stream:
                out.write(line)
                out.flush()
                lines.put(line)
        lines.put("")
