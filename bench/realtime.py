"""Real-time delivery benchmark: fanout vs routed, N ws processes, real RabbitMQ + PostgreSQL.

    python bench/realtime.py [--pods 1 2 4] [--events 3000] [--idle 1000]

Events are written like the api writes them (``record_event`` in a transaction, 20 per
transaction), published by an in-process outbox relay, and read by real websocket clients
(16 agents per pod, each event for one random agent). Latency is commit-start → frame
received, measured at half the measured peak rate. Needs SCRM_BENCH_POSTGRES_URL /
SCRM_BENCH_AMQP_URL (defaults: the local test services).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import asyncpg
import httpx
import websockets
from cryptography.fernet import Fernet

import runtime.models  # noqa: F401
from runtime.bus.rabbitmq import RabbitBus
from runtime.db.base import Base
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.events import agent_key, record_event
from runtime.domain.security import AccessClaims, issue_access_token
from runtime.models import Agent, Role, Tenant
from runtime.relay import OutboxRelay

PG = os.environ.get("SCRM_BENCH_POSTGRES_URL", "postgresql+asyncpg://scrm:scrm@127.0.0.1/scrm_test")
AMQP = os.environ.get("SCRM_BENCH_AMQP_URL", "amqp://scrm:scrm@127.0.0.1:5672/")
AGENTS_PER_POD = 16
PER_TX = 20
JWT = secrets.token_urlsafe(32)
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pod:
    port: int
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            line = next(x for x in f if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    async def metric(self, name: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        return float(next(x for x in text.splitlines() if x.startswith(name + " ")).split()[1])


def spawn(port: int, env: dict[str, str]) -> Pod:
    cmd = [sys.executable, "-m", "runtime.ws", "--host", "127.0.0.1", "--port", str(port)]
    return Pod(port, subprocess.Popen([*cmd, "--log-level", "warning"], env=env))


async def start_pod(db_url: str, mode: str) -> Pod:
    port = free_port()
    env = {
        **os.environ,
        "POD_NAME": f"bench-{secrets.token_hex(3)}",
        "SCRM_DATABASE_URL": db_url,
        "SCRM_AMQP_URL": AMQP,
        "SCRM_DELIVERY_MODE": mode,
        "SCRM_JWT_SECRET": JWT,
        "SCRM_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SCRM_WHATSAPP_APP_SECRET": "x",
        "SCRM_WHATSAPP_VERIFY_TOKEN": "x",
    }
    pod = spawn(port, env)
    async with asyncio.timeout(30), httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return pod
            except httpx.TransportError:
                await asyncio.sleep(0.1)


class Receiver:
    """All clients' receive loops; records (seq → latency) for events carrying a send time."""

    def __init__(self) -> None:
        self.latencies: dict[int, float] = {}
        self.received = 0
        self.done = asyncio.Event()
        self.expect = 0

    async def listen(self, ws: websockets.ClientConnection) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if "seq" not in frame:
                continue
            self.latencies[frame["seq"]] = time.time() - frame["payload"]["t"]
            self.received += 1
            if self.received >= self.expect:
                self.done.set()


async def connect(pod: Pod, token: str) -> websockets.ClientConnection:
    url = f"ws://127.0.0.1:{pod.port}/ws?token={token}"
    ws = await websockets.connect(url, compression=None, max_size=None)
    while json.loads(await ws.recv())["type"] != "ready":
        pass
    return ws


async def seed(sessionmaker, agents: int) -> tuple[uuid.UUID, list[uuid.UUID]]:  # type: ignore[no-untyped-def]
    """A fresh tenant with ``agents`` agents (no special permissions)."""
    tenant_id, role_id = uuid.uuid4(), uuid.uuid4()
    agent_ids = [uuid.uuid4() for _ in range(agents)]
    async with sessionmaker() as session, session.begin():
        session.add(Tenant(id=tenant_id, slug=f"b-{secrets.token_hex(4)}", name="bench"))
        await session.flush()
        session.add(Role(id=role_id, tenant_id=tenant_id, name="agent", permissions=[]))
        await session.flush()
        for a in agent_ids:
            session.add(Agent(id=a, tenant_id=tenant_id, email=f"{a}@b", name="b",
                              password_hash="x", role_id=role_id))  # fmt: skip
    return tenant_id, agent_ids


async def produce(sessionmaker, tenant_id, keys, count: int, rate: float | None) -> None:  # type: ignore[no-untyped-def]
    """Peak: ``PER_TX`` events per transaction, flat out; paced: one event per transaction."""
    per_tx = 1 if rate else PER_TX
    start = time.perf_counter()
    for i in range(0, count, per_tx):
        async with sessionmaker() as session, session.begin():
            for _ in range(min(per_tx, count - i)):
                payload = {"t": time.time(), "text": "x" * 100}
                audience = [random.choice(keys)]
                await record_event(session, tenant_id, "message.created", payload, audience)
        if rate:
            await asyncio.sleep(max(0.0, start + (i + per_tx) / rate - time.perf_counter()))


async def run_config(db_url: str, sessionmaker, mode: str, n: int, events: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    tenant_id, agent_ids = await seed(sessionmaker, AGENTS_PER_POD * n)
    pods = [await start_pod(db_url, mode) for _ in range(n)]
    bus = RabbitBus(AMQP, mode, connection_name="bench-relay")  # type: ignore[arg-type]
    await bus.start()
    receiver = Receiver()
    sockets = [
        await connect(pods[i % n], issue_access_token(AccessClaims(a, tenant_id), JWT, 3600))
        for i, a in enumerate(agent_ids)
    ]
    listeners = [asyncio.create_task(receiver.listen(ws)) for ws in sockets]
    keys = [agent_key(a) for a in agent_ids]
    try:
        async with OutboxRelay(sessionmaker, bus).running():
            # Peak: as fast as the generator can commit.
            receiver.expect = events
            cpu0 = sum(p.cpu_seconds() for p in pods)
            t0 = time.perf_counter()
            await produce(sessionmaker, tenant_id, keys, events, None)
            await asyncio.wait_for(receiver.done.wait(), 120)
            elapsed = time.perf_counter() - t0
            cpu = sum(p.cpu_seconds() for p in pods) - cpu0
            peak = events / elapsed
            # Latency at half the peak rate.
            receiver.latencies.clear()
            receiver.done.clear()
            half = max(1, int(peak / 2 * 3))  # about 3 seconds of traffic
            receiver.expect = receiver.received + half
            await produce(sessionmaker, tenant_id, keys, half, peak / 2)
            await asyncio.wait_for(receiver.done.wait(), 60)
        lat = sorted(receiver.latencies.values())
        bus_in = sum([await p.metric("scrm_ws_events_in_total") for p in pods])
        return {
            "msgs_per_s": peak,
            "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
            "deliveries_per_event": bus_in / receiver.received,
            "cpu_ms_per_msg": cpu / events * 1000,
        }
    finally:
        for task in listeners:
            task.cancel()
        for ws in sockets:
            await ws.close()
        await bus.close()
        for pod in pods:
            pod.process.terminate()
            pod.process.wait(30)


async def idle_memory(db_url: str, sessionmaker, count: int) -> float:  # type: ignore[no-untyped-def]
    """Bytes of RSS per idle agent socket on one ws process (fanout mode)."""
    tenant_id, [agent_id] = await seed(sessionmaker, 1)
    token = issue_access_token(AccessClaims(agent_id, tenant_id), JWT, 3600)
    pod = await start_pod(db_url, "fanout")
    sockets = [await connect(pod, token)]  # warm-up: one socket loads every code path
    before = pod.rss_bytes()
    try:
        for _ in range(count):
            sockets.append(await connect(pod, token))
        return (pod.rss_bytes() - before) / count
    finally:
        for ws in sockets:
            await ws.close()
        pod.process.terminate()
        pod.process.wait(30)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--idle", type=int, nargs="+", default=[1000])
    args = parser.parse_args()
    name = f"scrm_bench_{secrets.token_hex(3)}"
    admin = "postgresql://" + PG.split("://", 1)[1]
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(db_url)
    async with engine.begin() as db:
        await db.run_sync(Base.metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    try:
        print(
            "| N | mode | msgs/s | p50 ms | p99 ms (at half peak) | deliveries/event"
            " | pod CPU ms/msg |\n|---|---|---|---|---|---|---|",
            flush=True,
        )
        for n in args.pods:
            for mode in ("fanout", "routed"):
                r = await run_config(db_url, sessionmaker, mode, n, args.events)
                print(f"| {n} | {mode} | {r['msgs_per_s']:.0f} | {r['p50_ms']:.1f} | "
                      f"{r['p99_ms']:.1f} | {r['deliveries_per_event']:.2f} | "
                      f"{r['cpu_ms_per_msg']:.3f} |", flush=True)  # fmt: skip
        print("\n| idle sockets on one process | RSS per socket |\n|---|---|")
        for count in args.idle:
            per = await idle_memory(db_url, sessionmaker, count)
            print(f"| {count} | {per / 1024:.1f} KiB |", flush=True)
    finally:
        await engine.dispose()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
