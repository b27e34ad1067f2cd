"""Real-process helpers: ws pods as uvicorn subprocesses, websocket clients, broker admin."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from runtime.bus.management import management_api
from tests.support import free_port, healthy

DEADLINE = 20.0
POD_STARTUP = 60.0  # s: ~1 s when quiet; a loaded CI took over 15 s to start an api process
STOP_WITHIN = 15.0  # a pod, relay or bus that takes longer to stop fails the test


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within: float = DEADLINE
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``within`` seconds."""
    end = time.monotonic() + within
    while not await check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def bounded(step: Awaitable[object], what: str, within: float = STOP_WITHIN) -> None:
    """Await a teardown step; fail with ``what`` instead of hanging past ``within`` s."""
    try:
        async with asyncio.timeout(within):
            await step
    except TimeoutError:
        raise AssertionError(f"{what} did not finish within {within:.0f} s") from None


@dataclass
class Pod:
    """A ws service subprocess (``python -m runtime.ws``) on a loopback port; its stderr
    goes to ``log`` so that a pod that dies can say why."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Any  # a binary temporary file

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stderr_tail(self, lines: int = 30) -> str:
        self.log.seek(0)
        return b"".join(self.log.readlines()[-lines:]).decode(errors="replace")

    def unreachable(self, error: Exception) -> AssertionError:
        """Why the pod did not answer: its exit code and last stderr lines, if it died."""
        code = self.process.poll()
        state = f"exited with {code}" if code is not None else "is running but did not answer"
        return AssertionError(
            f"pod {self.name} (pid {self.process.pid}, port {self.port}) {state}: {error!r}\n"
            f"--- its stderr, last lines ---\n{self.stderr_tail()}"
        )

    async def metric(self, name: str) -> float:
        try:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        except httpx.TransportError as error:
            raise self.unreachable(error) from error
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def metric_is(self, name: str, value: float) -> Callable[[], Awaitable[bool]]:
        """A check for :func:`eventually`."""

        async def check() -> bool:
            return await self.metric(name) == value

        return check

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_WITHIN) -> int:
        """Signal the pod and reap it; SIGKILL and fail if it outlives ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"pod {self.name} ignored signal {sig} for {timeout:.0f} s; killed"
            ) from None


def spawn_pod(name: str, env: dict[str, str]) -> Pod:
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the Pod)
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.ws", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env, "POD_NAME": name},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    return Pod(name, port, process, log)


async def start_pod(name: str, env: dict[str, str]) -> Pod:
    """Spawn a pod and wait until it answers ``/healthz``; if it dies or does not answer in
    time, fail with its exit code and the tail of its stderr (a slow one is killed)."""
    pod = spawn_pod(name, env)
    try:
        await healthy(pod.port, within=POD_STARTUP, process=pod.process)
    except AssertionError as failed:
        why = pod.unreachable(failed)  # its stderr tells how far it got
        if pod.process.poll() is None:
            pod.stop(signal.SIGKILL)
        raise why from None
    return pod


@dataclass
class Client:
    """An agent's websocket; ``frames`` are the event frames received, in order."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    ready: dict[str, Any] = field(default_factory=dict)  # the ``ready`` frame

    @property
    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames]

    @property
    def cursor(self) -> int | None:
        """What the web client reconnects with: the highest ``seq`` it saw, or the cursor
        ``ready`` caught it up to if that is higher (None: it knows of neither)."""
        known = [seq for seq in (*self.seqs, self.ready.get("cursor")) if seq is not None]
        return max(known, default=None)

    async def pump(self, until: Callable[[], bool], within: float = DEADLINE) -> None:
        """Read frames until ``until()`` holds."""
        async with asyncio.timeout(within):
            while not until():
                frame = json.loads(await self.ws.recv())
                if "seq" in frame:
                    self.frames.append(frame)


async def connect(url: str, token: str, cursor: int | None = None, **kwargs: Any) -> Client:
    """Open a socket and read up to the ``ready`` frame (catch-up frames are kept)."""
    query = {"token": token} | ({} if cursor is None else {"cursor": str(cursor)})
    ws = await websockets.connect(f"{url}?{urllib.parse.urlencode(query)}", **kwargs)
    client = Client(ws)
    async with asyncio.timeout(DEADLINE):
        while (frame := json.loads(await ws.recv())).get("type") != "ready":
            client.frames.append(frame)
    client.ready = frame
    return client


class BrokerAdmin:
    """The bits of the RabbitMQ management API the tests need."""

    def __init__(self, api_url: str) -> None:
        api = management_api(api_url)
        self._base, self._auth = f"{api.url}/api", api.auth

    async def _get(self, path: str) -> Any:
        async with httpx.AsyncClient(auth=self._auth) as client:
            response = await client.get(self._base + path)
            return response.json() if response.status_code == 200 else None

    async def queue_exists(self, name: str) -> bool:
        return await self._get("/queues/%2F/" + urllib.parse.quote(name, safe="")) is not None

    async def close_connections(self, connection_name: str) -> bool:
        """Force-close the connections with that client name; False if none is listed yet."""
        closed = False
        async with httpx.AsyncClient(auth=self._auth) as client:
            for conn in (await client.get(self._base + "/connections")).json():
                if conn.get("client_properties", {}).get("connection_name") == connection_name:
                    path = "/connections/" + urllib.parse.quote(conn["name"], safe="")
                    await client.delete(self._base + path)
                    closed = True
        return closed
