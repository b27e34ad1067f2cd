"""Real-time delivery benchmark through the real path: signed webhooks → api → outbox relay →
RabbitMQ → N ws processes → websocket clients, ``fanout`` and ``routed`` side by side.

    python bench/realtime.py [--pods 1 2 4] [--apis 2] [--seconds 8] [--idle 1000 10000]
                             [--latency-rates 25 100 200]

Every process is real and separate: ``--apis`` api processes (``create_app`` under
``runtime.ws.server.serve``, each running its outbox relay), N ws processes, 2 load-generator
processes POSTing signed ``inbound_text`` webhooks to ``/webhooks/whatsapp`` (closed loop for
the peak, then open loop at half the peak for latency), 2 processes holding the agents'
websockets (8 agents per ws process, two contacts each, every webhook for one contact, so
every webhook concerns exactly one agent and produces two frames: ``message.created`` and
``conversation.updated``). Latency: webhook POST accepted (200 received by the generator) →
``message.created`` frame received by the agent. Needs PostgreSQL and RabbitMQ (defaults: the
local test services; SCRM_BENCH_POSTGRES_URL / SCRM_BENCH_AMQP_URL / SCRM_BENCH_RABBITMQ_API).

RabbitMQ's own ceiling (``--ceiling``, the default), in the same run after each N: one publisher
process with confirms calls ``RabbitBus.publish`` with rounds of as many events as our fanout
pods received per message at the peak (so the same bodies and events per message), N consumer
processes each subscribed and bound like a pod holding 8 agents (no websockets, no database);
events/s delivered to the consumer that wants them, fanout exchange vs direct (routed). Our
frames/s is then printed as a fraction of it (``of_ceiling``); the JSON gets rows with mode
``rabbitmq-fanout`` / ``rabbitmq-routed``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runtime.models  # noqa: F401, E402
from bench.common import cpu_of  # noqa: E402
from runtime.bus.management import management_api
from runtime.db.migrate import upgrade
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.phones import normalize_phone
from runtime.domain.security import AccessClaims, issue_access_token
from runtime.models import Agent, Contact, Conversation, Event, InboundWebhook, Role, Sender, Tenant

PG = os.environ.get("SCRM_BENCH_POSTGRES_URL", "postgresql+asyncpg://scrm:scrm@127.0.0.1/scrm_test")
AMQP = os.environ.get("SCRM_BENCH_AMQP_URL", "amqp://scrm:scrm@127.0.0.1:5672/")
RABBIT_API = os.environ.get("SCRM_BENCH_RABBITMQ_API", "http://scrm:scrm@127.0.0.1:15672")
AGENTS_PER_POD = 8
CONTACTS_PER_AGENT = 2
GENERATORS = 2
CLIENT_PROCS = 2
JWT = secrets.token_urlsafe(32)
APP_SECRET = secrets.token_urlsafe(16)
FERNET = Fernet.generate_key().decode()
TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "realtime_load.py")
Sessions = async_sessionmaker[AsyncSession]
SOURCE: dict[str, str] = {}
TREE: dict[str, str] = {}  # "path": the checkout the api and ws processes import (--trees)


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def write_json(path: str, value: Any) -> None:
    with open(path, "w") as f:
        json.dump(value, f, indent=1, default=str)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pids_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@dataclass
class Proc:
    role: str
    process: subprocess.Popen[str]
    port: int = 0
    name: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    async def metric(self, name: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


MODES = ["fanout", "routed", "routed-audience", "routed-pods"]


def delivery(mode: str) -> tuple[str, str]:
    """(``SCRM_DELIVERY_MODE``, ``SCRM_BUS_ROUTED_PUBLISH``) of a bench mode: ``routed`` is the
    default publishing (chunks routed by CC), ``routed-audience`` one message per audience,
    ``routed-pods`` one message per set of pods (the relay reads the bindings)."""
    delivery_mode, _, publish = mode.partition("-")
    return delivery_mode, publish or "cc"


def base_env(db_url: str, mode: str, amqp: str = AMQP) -> dict[str, str]:
    delivery_mode, publish = delivery(mode)
    return {
        **os.environ,
        "SCRM_DATABASE_URL": db_url,
        "SCRM_AMQP_URL": amqp,
        "SCRM_DELIVERY_MODE": delivery_mode,
        "SCRM_BUS_ROUTED_PUBLISH": publish,
        "SCRM_BUS_MANAGEMENT_URL": RABBIT_API,
        "SCRM_JWT_SECRET": JWT,
        "SCRM_ENCRYPTION_KEY": FERNET,
        "SCRM_WHATSAPP_APP_SECRET": APP_SECRET,
        "SCRM_WHATSAPP_VERIFY_TOKEN": "x",
    }


def spawn(cmd: list[str], env: dict[str, str], log: str = "") -> subprocess.Popen[str]:
    """Start a server; its output goes to ``log`` (a file, appended) when given."""
    if not log:
        return subprocess.Popen(cmd, env=env, text=True)
    with open(log, "a") as out:
        return subprocess.Popen(cmd, env=env, text=True, stdout=out, stderr=subprocess.STDOUT)


async def start_server(
    role: str,
    db_url: str,
    mode: str,
    *,
    amqp: str = AMQP,
    name: str = "",
    port: int = 0,
    log: str = "",
    within: float = 60,
) -> Proc:
    """An api or ws process, once it answers ``/healthz`` (``within`` seconds); ``name`` and
    ``port`` (default: new ones) let a killed process come back as itself; ``log``: see
    :func:`spawn`."""
    port = port or free_port()
    name = name or f"bench-{role}-{secrets.token_hex(3)}"
    env = {**base_env(db_url, mode, amqp), "POD_NAME": name}
    if TREE.get("path"):
        env["PYTHONPATH"] = TREE["path"]
    if role == "ws":
        cmd = [sys.executable, "-m", "runtime.ws", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    else:
        cmd = [sys.executable, WORKER, "api", str(port)]
    proc = Proc(role, spawn(cmd, env, log), port, name)
    async with asyncio.timeout(within), httpx.AsyncClient() as client:
        while True:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{role} exited with {proc.process.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return proc
            except httpx.TransportError:
                await asyncio.sleep(0.1)


def start_worker(kind: str, job: dict[str, Any], workdir: str) -> tuple[Proc, str]:
    path = os.path.join(workdir, f"{kind}-{secrets.token_hex(3)}.json")
    job = {**job, "out": path + ".out"}
    write_json(path, job)
    process = subprocess.Popen(
        [sys.executable, WORKER, kind, path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return Proc(kind, process), job["out"]


async def readline(proc: Proc, within: float = 300) -> str:
    assert proc.process.stdout is not None
    stdout = proc.process.stdout
    line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), within)
    if not line:
        raise RuntimeError(f"{proc.role} exited with {proc.process.wait()}")
    return line.strip()


def tell(proc: Proc, line: str = "go") -> None:
    assert proc.process.stdin is not None
    proc.process.stdin.write(line + "\n")
    proc.process.stdin.flush()


def reap(proc: Proc) -> float:
    """Wait for a worker that is exiting; returns its user+sys CPU seconds."""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.process.returncode = 0
    return usage.ru_utime + usage.ru_stime


@dataclass
class World:
    tenant_id: uuid.UUID
    slug: str
    agent_ids: list[uuid.UUID]
    wa_ids: list[str]
    phone_number_id: str
    waba_id: str = "bench-waba"
    display: str = "+62 811 0000 0000"


async def seed(sessions: Sessions, agents: int) -> World:
    """A tenant with ``agents`` agents (no read-all), a sender, and contacts each assigned to
    one agent with an open conversation (webhooks then never change ownership)."""
    tenant_id, role_id, sender_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    slug = f"b-{secrets.token_hex(4)}"
    agent_ids = [uuid.uuid4() for _ in range(agents)]
    pnid = str(10**14 + secrets.randbelow(10**14))
    wa_ids: list[str] = []
    base = 628120000000 + secrets.randbelow(10**6) * 100
    async with sessions() as session, session.begin():
        session.add(Tenant(id=tenant_id, slug=slug, name="bench"))
        await session.flush()
        session.add(Role(id=role_id, tenant_id=tenant_id, name="agent",
                         permissions=["inbox:read:assigned"]))  # fmt: skip
        session.add(Sender(id=sender_id, tenant_id=tenant_id, phone_number_id=pnid,
                           display_number="+6281100000000", waba_id="bench-waba"))  # fmt: skip
        await session.flush()
        for i, a in enumerate(agent_ids):
            session.add(Agent(id=a, tenant_id=tenant_id, email=f"{a}@b", name="b",
                              password_hash="x", role_id=role_id))  # fmt: skip
            await session.flush()
            for j in range(CONTACTS_PER_AGENT):
                wa_id = str(base + i * CONTACTS_PER_AGENT + j)
                contact = Contact(tenant_id=tenant_id, phone=normalize_phone("+" + wa_id, "ID"),
                                  assigned_agent_id=a)  # fmt: skip
                session.add(contact)
                await session.flush()
                session.add(Conversation(tenant_id=tenant_id, sender_id=sender_id,
                                         contact_id=contact.id, assigned_agent_id=a))  # fmt: skip
                wa_ids.append(wa_id)
    return World(tenant_id, slug, agent_ids, wa_ids, pnid)


async def event_seq(sessions: Sessions, tenant_id: uuid.UUID) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(select(Tenant.event_seq).where(Tenant.id == tenant_id)) or 0
        )


async def drained(sessions: Sessions, tenant_id: uuid.UUID, within: float = 60) -> None:
    """Wait until every stored webhook is applied and the relays published every event of
    the tenant."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        async with sessions() as session:
            unpublished = select(func.count()).where(
                Event.tenant_id == tenant_id, Event.published_at.is_(None)
            )
            unapplied = select(func.count()).where(InboundWebhook.processed_at.is_(None))
            left = (await session.scalar(unpublished) or 0) + (await session.scalar(unapplied) or 0)
        if not left:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the relays did not drain the outbox")


async def stage_latencies(
    sessions: Sessions, tenant_id: uuid.UUID, since: float
) -> dict[str, float]:
    """Where the half-load latency goes, from the rows' own timestamps (database clock of
    each api process): stored webhook received → applied (``processed_at``), and
    ``message.created`` recorded → claimed by a relay (``published_at``), p50/p99 in ms."""
    start = datetime.fromtimestamp(since, UTC)
    async with sessions() as session:
        applied = await session.execute(
            select(InboundWebhook.received_at, InboundWebhook.processed_at).where(
                InboundWebhook.received_at >= start
            )
        )
        published = await session.execute(
            select(Event.created_at, Event.published_at).where(
                Event.tenant_id == tenant_id,
                Event.type == "message.created",
                Event.created_at >= start,
            )
        )
        spans = {
            "applied": [(b - a).total_seconds() for a, b in applied if b is not None],
            "published": [(b - a).total_seconds() for a, b in published if b is not None],
        }
    return {
        f"{stage}_{name}_ms": pct(values, q) if values else float("nan")
        for stage, values in spans.items()
        for name, q in (("p50", 0.5), ("p99", 0.99))
    }


async def claimed_at(sessions: Sessions, tenant_id: uuid.UUID, since: float) -> dict[str, float]:
    """Tag → when a relay claimed its ``message.created`` (``published_at``, epoch seconds),
    for the events recorded since ``since``."""
    start = datetime.fromtimestamp(since, UTC)
    async with sessions() as session:
        rows = await session.execute(
            select(Event.payload["message"]["body"].as_string(), Event.published_at).where(
                Event.tenant_id == tenant_id,
                Event.type == "message.created",
                Event.created_at >= start,
            )
        )
        return {tag: at.timestamp() for tag, at in rows if at is not None}


def relay_to_frame(
    times: dict[str, list[float]], claimed: dict[str, float], tags: dict[str, float]
) -> dict[str, float]:
    """p50/p99 ms from a relay claiming the ``message.created`` of a phase's webhooks to the
    agent receiving its frame: the relay's round, the broker, the pod and the client."""
    waits = [tags[tag] - claimed[tag] for tag in times if tag in tags and tag in claimed]
    return {"relayed_p50_ms": pct(waits, 0.5), "relayed_p99_ms": pct(waits, 0.99)}


async def broker_stats(slug: str, mode: str, queues: list[str]) -> dict[str, float]:
    """AMQP messages published to the tenant exchange and delivered from the pod queues."""
    api = management_api(RABBIT_API)
    base = f"{api.url}/api"
    async with httpx.AsyncClient(auth=api.auth) as client:
        ex = (await client.get(f"{base}/exchanges/%2F/scrm.{slug}.{delivery(mode)[0]}")).json()
        delivered = 0.0
        for q in queues:
            stats = (await client.get(f"{base}/queues/%2F/{q}")).json().get("message_stats", {})
            delivered += stats.get("deliver_get", 0)
    return {"published": ex.get("message_stats", {}).get("publish_in", 0), "delivered": delivered}


async def exchange_stats(name: str, delete: bool = False) -> dict[str, float]:
    """An exchange's AMQP messages in (published) and out (copies routed to queues)."""
    api = management_api(RABBIT_API)
    url = f"{api.url}/api/exchanges/%2F/{name}"
    async with httpx.AsyncClient(auth=api.auth) as client:
        stats = (await client.get(url)).json().get("message_stats", {})
        if delete:
            await client.delete(url)
    return {"published": stats.get("publish_in", 0), "routed": stats.get("publish_out", 0)}


def latencies(times: dict[str, list[float]], tags: dict[str, float]) -> dict[str, float]:
    """p50/p99 ms from accepted (``times``: tag → [sent, accepted]) to the frame received."""
    waits = [tags[tag] - sent_accepted[1] for tag, sent_accepted in times.items() if tag in tags]
    return {"p50_ms": pct(waits, 0.5), "p99_ms": pct(waits, 0.99)}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else float("nan")


@dataclass
class Cpu:
    """CPU seconds per component between two snapshots."""

    procs: dict[str, list[int]] = field(default_factory=dict)
    start: dict[str, float] = field(default_factory=dict)
    machine: tuple[float, float] = (0.0, 0.0)

    def snapshot(self) -> dict[str, float]:
        groups = {
            **self.procs,
            "postgres": pids_named("postgres"),
            "rabbitmq": pids_named("beam.smp"),
        }
        return {g: sum(cpu_of(p) for p in pids) for g, pids in groups.items()}

    def begin(self) -> None:
        self.start, self.machine = self.snapshot(), machine_busy()

    def end(self) -> dict[str, float]:
        now, (busy, total) = self.snapshot(), machine_busy()
        used = {g: now[g] - self.start.get(g, 0.0) for g in now}
        used["machine_busy_frac"] = (busy - self.machine[0]) / max(1e-9, total - self.machine[1])
        return used


async def run_phase(
    world: World, apis: list[Proc], workdir: str, run: str, seconds: float,
    rate: float | None, concurrency: int,
) -> tuple[dict[str, list[float]], int, float, float, float]:  # fmt: skip
    """Run the generators; returns (tag → [sent, accepted], errors, t0, t1, generator CPU)."""
    gens = []
    for g in range(GENERATORS):
        job = {
            "gen": f"{run}{g}", "run": run, "ports": [a.port for a in apis],
            "wa_ids": world.wa_ids[g::GENERATORS], "app_secret": APP_SECRET,
            "phone_number_id": world.phone_number_id, "waba_id": world.waba_id,
            "display": world.display, "seconds": seconds,
            "rate": rate / GENERATORS if rate else None, "concurrency": concurrency,
            "source": SOURCE["source"], "db_url": SOURCE["db_url"], "amqp_url": AMQP,
            "management_url": RABBIT_API,
            "mode": delivery(SOURCE["mode"])[0], "routed_publish": delivery(SOURCE["mode"])[1],
            "tenant_id": str(world.tenant_id), "slug": world.slug,
            "agents": [str(a) for a in world.agent_ids], "per_tx": 20,
        }  # fmt: skip
        gens.append(start_worker("gen", job, workdir))
    for proc, _ in gens:
        await readline(proc)
    t0 = time.time()
    for proc, _ in gens:
        tell(proc)
    for proc, _ in gens:
        await readline(proc, seconds + 120)
    t1 = time.time()
    gen_cpu = sum(reap(proc) for proc, _ in gens)
    times: dict[str, list[float]] = {}
    errors = 0
    for _, out in gens:
        result = read_json(out)
        times.update(result["times"])
        errors += len(result["errors"])
    return times, errors, t0, t1, gen_cpu


async def run_config(
    db_url: str, sessions: Sessions, mode: str, n: int, args: argparse.Namespace
) -> dict[str, Any]:
    world = await seed(sessions, AGENTS_PER_POD * n)
    SOURCE.update(source=args.source, db_url=db_url, mode=mode)
    procs: list[Proc] = []
    with tempfile.TemporaryDirectory() as workdir:
        try:
            pods = [await start_server("ws", db_url, mode) for _ in range(n)]
            procs += pods
            apis = [await start_server("api", db_url, mode) for _ in range(args.apis)]
            procs += apis
            urls = [
                f"ws://127.0.0.1:{pods[i % n].port}/ws?token="
                + issue_access_token(AccessClaims(a, world.tenant_id), JWT, 3600)
                for i, a in enumerate(world.agent_ids)
            ]
            client_outs = []
            for c in range(CLIENT_PROCS):
                proc, out = start_worker("clients", {"urls": urls[c::CLIENT_PROCS]}, workdir)
                procs.append(proc)
                client_outs.append(out)
            clients = [p for p in procs if p.role == "clients"]
            for proc in clients:
                assert await readline(proc, 120) == "ready"
            cpu = Cpu({"api": [p.pid for p in apis], "ws": [p.pid for p in pods],
                       "clients": [p.pid for p in clients]})  # fmt: skip
            run = secrets.token_hex(3)
            # Peak: closed loop, as fast as the api processes accept webhooks.
            seq0 = await event_seq(sessions, world.tenant_id)
            cpu.begin()
            peak_times, peak_err, t0, t1, gen_cpu = await run_phase(
                world, apis, workdir, run + "p", args.seconds, None, args.concurrency
            )
            await drained(sessions, world.tenant_id)
            peak_drained = time.time()
            await asyncio.sleep(0.5)
            peak_cpu = cpu.end()
            peak_cpu["generators"] = gen_cpu
            peak_events = await event_seq(sessions, world.tenant_id) - seq0
            ws_in = [await p.metric("scrm_ws_events_in_total") for p in pods]
            ws_msgs = [await p.metric("scrm_ws_bus_messages_in_total") for p in pods]
            # Latency: open loop at half the sustained peak — webhooks accepted, applied and
            # published per second from the first POST until all was published (acceptance
            # alone can outrun processing; half of it would still grow a backlog).
            peak_rate = len(peak_times) / (t1 - t0)
            sustained_rate = len(peak_times) / (peak_drained - t0)
            half_times, half_err, h0, h1, _ = await run_phase(
                world, apis, workdir, run + "h", args.seconds, sustained_rate / 2, 0
            )
            await drained(sessions, world.tenant_id)
            stages = await stage_latencies(sessions, world.tenant_id, h0)
            # Latency at fixed rates (--latency-rates): the curve below the half load.
            at_rates = []
            for i, rate in enumerate(args.latency_rates):
                times, errors, r0, r1, _ = await run_phase(
                    world, apis, workdir, f"{run}r{i}", args.seconds, rate, 0
                )
                await drained(sessions, world.tenant_id)
                at_rates.append((rate, times, errors, r1 - r0,
                                 await stage_latencies(sessions, world.tenant_id, r0)))  # fmt: skip
            await asyncio.sleep(1.0)
            for proc in clients:
                tell(proc, "stop")
            received: list[float] = []
            tags: dict[str, float] = {}
            for proc, out in zip(clients, client_outs, strict=True):
                await readline(proc, 60)
                result = read_json(out)
                received += result["received"]
                tags.update(result["tags"])
            total_events = await event_seq(sessions, world.tenant_id) - seq0
            claimed = await claimed_at(sessions, world.tenant_id, h0)
            await asyncio.sleep(5.5)  # the management API refreshes its counters every 5 s
            broker = await broker_stats(world.slug, mode, [f"scrm.{world.slug}.ws.{p.name}"
                                                           for p in pods])  # fmt: skip
        finally:
            for proc in reversed(procs):
                proc.stop()
    # Sustained peak: frames received while the generators ran, skipping the first second.
    window = [t for t in received if t0 + 1 <= t <= t1]
    peak_frames = [t for t in received if t0 <= t <= t1 + 60 and t < h0]
    frames_peak = len(peak_frames)
    lat_sent = [tags[tag] - st[0] for tag, st in half_times.items() if tag in tags]
    every_phase = [peak_times, half_times, *(times for _, times, _, _, _ in at_rates)]
    lost = sum(1 for times in every_phase for tag in times if tag not in tags)
    delivered_peak = 2 * len(peak_times)
    return {
        "mode": mode,
        "n": n,
        "webhooks_per_s": peak_rate,
        "sustained_webhooks_per_s": sustained_rate,
        "msgs_per_s": len(window) / max(1e-9, t1 - t0 - 1),
        "frames_peak": frames_peak,
        # Every frame of the peak phase over the time from its first POST to its last frame:
        # the rate the pipeline delivers at while a backlog is applied, not only accepted.
        "frames_sustained_per_s": frames_peak / max(1e-9, max(peak_frames, default=t1) - t0),
        "delivered_expected": delivered_peak,
        "half_rate": len(half_times) / (h1 - h0),
        **latencies(half_times, tags),
        "p50_sent_ms": pct(lat_sent, 0.5),
        "p99_sent_ms": pct(lat_sent, 0.99),
        "lost": lost,
        "http_errors": peak_err + half_err + sum(errors for _, _, errors, _, _ in at_rates),
        **stages,
        **relay_to_frame(half_times, claimed, tags),
        "latency_by_rate": [
            {
                "rate": rate,
                "webhooks_per_s": len(times) / max(1e-9, span),
                **latencies(times, tags),
                **rate_stages,
                **relay_to_frame(times, claimed, tags),
            }
            for rate, times, _, span, rate_stages in at_rates
        ],
        "events": total_events,
        "peak_events": peak_events,
        "amqp_published_per_event": broker["published"] / max(1, total_events),
        "amqp_deliveries_per_event": broker["delivered"] / max(1, total_events),
        "pod_event_copies_per_event": sum(ws_in) / max(1, peak_events),
        "pod_msgs": sum(ws_msgs),
        "events_per_bus_message": sum(ws_in) / max(1, sum(ws_msgs)),
        "cpu": peak_cpu,
        "cpu_ms_per_msg": {
            g: v / max(1, frames_peak) * 1000
            for g, v in peak_cpu.items()
            if g != "machine_busy_frac"
        },  # fmt: skip
    }


async def idle_memory(db_url: str, sessions: Sessions, count: int) -> tuple[float, float]:
    """(RSS bytes per idle socket, connect rate) on one ws process (fanout mode, one agent)."""
    world = await seed(sessions, 1)
    token = issue_access_token(AccessClaims(world.agent_ids[0], world.tenant_id), JWT, 3600)
    pod = await start_server("ws", db_url, "fanout")
    url = f"ws://127.0.0.1:{pod.port}/ws?token={token}"
    procs = [pod]
    with tempfile.TemporaryDirectory() as workdir:
        try:
            warm, _ = start_worker("clients", {"urls": [url] * 10}, workdir)
            procs.append(warm)
            await readline(warm, 60)
            before = rss_of(pod.pid)
            t0 = time.perf_counter()
            workers = [start_worker("clients", {"urls": [url] * (count // CLIENT_PROCS)}, workdir)
                       for _ in range(CLIENT_PROCS)]  # fmt: skip
            procs += [w for w, _ in workers]
            for w, _ in workers:
                await readline(w, 600)
            rate = count / (time.perf_counter() - t0)
            await asyncio.sleep(1.0)
            return (rss_of(pod.pid) - before) / count, rate
        finally:
            for proc in procs[1:]:
                tell(proc, "stop")
            for proc in procs:
                proc.stop()


def parse_trees(specs: list[str]) -> list[tuple[str, str]]:
    """``label=path`` → (label, absolute path); none → one unlabelled run of this tree."""
    return [(label, os.path.abspath(path)) for label, path in (s.split("=", 1) for s in specs)] or [
        ("", "")
    ]


def tree_ratios(results: list[dict[str, Any]]) -> str:
    """Each tree's half-load latency and peak frames/s as ratios to the first tree's, per
    configuration (below 1: lower latency, fewer frames/s)."""
    lines = ["| N | mode | tree | p50 ms | p99 ms | p50 ratio | p99 ratio | frames/s ratio |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    firsts: dict[tuple[int, str], dict[str, Any]] = {}
    for r in results:
        first = firsts.setdefault((r["n"], r["mode"]), r)
        lines.append(
            f"| {r['n']} | {r['mode']} | {r['tree']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['p50_ms'] / first['p50_ms']:.2f} | {r['p99_ms'] / first['p99_ms']:.2f} | "
            f"{r['msgs_per_s'] / first['msgs_per_s']:.2f} |"
        )
    return "\n".join(lines)


def latency_by_rate(results: list[dict[str, Any]]) -> str:
    """Latency (accepted → ``message.created`` frame) at each ``--latency-rates`` rate, with
    where it went (received → applied, ``message.created`` → claimed by a relay)."""
    lines = ["| N | mode | webhooks/s asked | webhooks/s sent | p50 ms | p99 ms "
             "| received → applied p50/p99 ms | message.created → relay p50/p99 ms "
             "| relay → frame p50/p99 ms |",
             "|---" * 9 + "|"]  # fmt: skip
    for r in results:
        mode = f"{r['mode']} ({r['tree']})" if r.get("tree") else r["mode"]
        for at in r["latency_by_rate"]:
            lines.append(
                f"| {r['n']} | {mode} | {at['rate']:.0f} | {at['webhooks_per_s']:.0f} | "
                f"{at['p50_ms']:.1f} | {at['p99_ms']:.1f} | "
                f"{at['applied_p50_ms']:.1f} / {at['applied_p99_ms']:.1f} | "
                f"{at['published_p50_ms']:.1f} / {at['published_p99_ms']:.1f} | "
                f"{at['relayed_p50_ms']:.1f} / {at['relayed_p99_ms']:.1f} |"
            )
    return "\n".join(lines)


def row(r: dict[str, Any]) -> str:
    c = r["cpu_ms_per_msg"]
    mode = f"{r['mode']} ({r['tree']})" if r.get("tree") else r["mode"]
    return (
        f"| {r['n']} | {mode} | {r['webhooks_per_s']:.0f} | "
        f"{r['sustained_webhooks_per_s']:.0f} | {r['msgs_per_s']:.0f} | "
        f"{r['frames_sustained_per_s']:.0f} | {r['half_rate']:.0f} | "
        f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['p99_sent_ms']:.1f} | "
        f"{r['amqp_published_per_event']:.3f} | {r['amqp_deliveries_per_event']:.3f} | "
        f"{r['pod_event_copies_per_event']:.2f} | {c['ws']:.3f} | {c['api']:.3f} | "
        f"{c['postgres']:.3f} | {c['rabbitmq']:.3f} | {c['generators'] + c['clients']:.3f} | "
        f"{r['cpu']['machine_busy_frac'] * 100:.0f}% | {r['lost']} | "
        f"{r['applied_p50_ms']:.1f} / {r['applied_p99_ms']:.1f} | "
        f"{r['published_p50_ms']:.1f} / {r['published_p99_ms']:.1f} | "
        f"{r['relayed_p50_ms']:.1f} / {r['relayed_p99_ms']:.1f} |"
    )


HEADER = (
    "| N | mode | webhooks/s accepted (peak) | webhooks/s sustained (peak) | frames/s (peak) "
    "| frames/s sustained (first POST → last frame) "
    "| webhooks/s (half of sustained) | p50 ms | p99 ms "
    "| p99 from POST ms | AMQP msgs published/event | AMQP deliveries/event "
    "| event copies to pods/event | ws CPU ms/frame | api CPU ms/frame | PG CPU ms/frame "
    "| broker CPU ms/frame | load gen+clients CPU ms/frame | machine busy | lost "
    "| half: received → applied p50/p99 ms | half: message.created → relay p50/p99 ms "
    "| half: relay → frame p50/p99 ms |\n" + "|---" * 23 + "|"
)


CEILING_ROUND = 50  # events per publish when no fanout row of the same N tells ours


async def ceiling(mode: str, n: int, size: int, seconds: float) -> dict[str, Any]:
    """RabbitMQ's own ceiling: one publisher, N consumers (one queue each), ``mode``'s exchange."""
    slug = f"c-{secrets.token_hex(4)}"
    agents = [str(uuid.uuid4()) for _ in range(AGENTS_PER_POD * n)]
    delivery_mode, publish = delivery(mode)
    common = {"amqp_url": AMQP, "mode": delivery_mode, "routed_publish": publish, "slug": slug,
              "management_url": RABBIT_API}  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        subs = [start_worker("ceiling-sub", {**common, "pod": f"ceiling-{i}",
                                             "agents": agents[i::n]}, workdir)
                for i in range(n)]  # fmt: skip
        pub, pub_out = start_worker(
            "ceiling-pub", {**common, "agents": agents, "round": size, "seconds": seconds}, workdir
        )
        try:
            for proc, _ in [*subs, (pub, pub_out)]:
                assert await readline(proc, 60) == "ready"
            tell(pub)
            await readline(pub, seconds + 120)
            for proc, _ in subs:
                tell(proc, "stop")
            for proc, _ in subs:
                await readline(proc, 180)
        finally:
            for proc, _ in [*subs, (pub, pub_out)]:
                proc.stop()
        sent = read_json(pub_out)
        got = [read_json(out) for _, out in subs]
    await asyncio.sleep(5.5)  # the management API refreshes its counters every 5 s
    broker = await exchange_stats(f"scrm.{slug}.{delivery_mode}", delete=True)
    mine = sum(g["mine"] for g in got)
    latencies = [x for g in got for x in g["latencies"]]
    return {
        "mode": f"rabbitmq-{mode}",
        "n": n,
        "msgs_per_s": mine / max(1e-9, max(g["last"] for g in got) - sent["t0"]),
        "lost": sent["published"] - mine,
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "round": size,
        "events": sent["published"],
        "amqp_published_per_event": broker["published"] / max(1, sent["published"]),
        "amqp_deliveries_per_event": broker["routed"] / max(1, sent["published"]),
        "event_copies_per_event": sum(g["events"] for g in got) / max(1, sent["published"]),
    }


def ceiling_round(results: list[dict[str, Any]], n: int) -> int:
    """Events per publish like ours: what our fanout pods got per message at the peak."""
    for r in results:
        if r.get("mode") == "fanout" and r.get("n") == n:
            return max(1, round(r["events_per_bus_message"]))
    return CEILING_ROUND


def ceiling_row(c: dict[str, Any], ours: dict[str, Any] | None) -> str:
    rate, share = (
        (f"{ours['msgs_per_s']:.0f}", f"{ours['msgs_per_s'] / c['msgs_per_s']:.2f}")
        if ours
        else ("–", "–")
    )
    return (
        f"| {c['n']} | {c['mode']} | {c['round']} | {c['msgs_per_s']:.0f} | {c['p50_ms']:.1f} | "
        f"{c['p99_ms']:.1f} | {c['amqp_published_per_event']:.3f} | "
        f"{c['amqp_deliveries_per_event']:.3f} | {c['event_copies_per_event']:.2f} | {c['lost']} | "
        f"{rate} | {share} |"
    )


CEILING_HEADER = (
    "| N | RabbitMQ alone | events per publish | events/s delivered | p50 ms | p99 ms "
    "| AMQP msgs published/event | AMQP deliveries/event | event copies to consumers/event "
    "| lost | our frames/s | of_ceiling |\n" + "|---" * 12 + "|"
)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--modes", nargs="*", choices=MODES, default=["fanout", "routed"])
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16, help="per generator, peak")
    parser.add_argument("--idle", type=int, nargs="*", default=[])
    parser.add_argument(
        "--latency-rates", type=float, nargs="*", default=[], metavar="WEBHOOKS_PER_S",
        help="after the half-load phase, open-loop phases at these rates: latency by load",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument(
        "--trees", nargs="+", default=[], metavar="LABEL=PATH",
        help="run every configuration once per tree (checkouts, e.g. from git archive: the api "
        "and ws processes import that tree), in turn, and print each tree's latency and "
        "throughput as ratios to the first",
    )  # fmt: skip
    parser.add_argument(
        "--ceiling", action=argparse.BooleanOptionalAction, default=True,
        help="after each N, measure RabbitMQ alone with our message shapes (modes rabbitmq-*)",
    )  # fmt: skip
    parser.add_argument(
        "--source", choices=["webhooks", "outbox"], default="webhooks",
        help="outbox: skip HTTP and ingest, generators commit events (20 per transaction at "
        "peak, 1 at half peak) and run their own relay: the realtime pipeline's own capacity",
    )  # fmt: skip
    args = parser.parse_args()
    name = f"scrm_bench_{secrets.token_hex(3)}"
    admin = "postgresql://" + PG.split("://", 1)[1]
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(db_url)
    results: list[dict[str, Any]] = []
    try:
        # migrated, not create_all: migrations also add the triggers behind config_epoch
        await asyncio.to_thread(upgrade, db_url)
        sessions = make_sessionmaker(engine)
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, {CORES} cores, apis={args.apis}, "
              f"source={args.source}\n{HEADER}",
              flush=True)  # fmt: skip
        ceilings: list[dict[str, Any]] = []
        trees = parse_trees(args.trees)
        for n in args.pods:
            for mode in args.modes:
                for label, path in trees:  # in turn, so drifting load hits each alike
                    TREE["path"] = path
                    r = {**await run_config(db_url, sessions, mode, n, args), "tree": label}
                    results.append(r)
                    print(row(r), flush=True)
            if args.ceiling:
                size = ceiling_round(results, n)
                ceilings += [await ceiling(mode, n, size, args.seconds) for mode in args.modes]
        if args.latency_rates:
            print(f"\n{latency_by_rate(results)}", flush=True)
        if len(trees) > 1:
            print(f"\n{tree_ratios(results)}", flush=True)
        if ceilings:
            print(f"\nRabbitMQ's own ceiling (same run)\n{CEILING_HEADER}")
        for c in ceilings:
            ours = next((r for r in results if r.get("n") == c["n"]
                         and f"rabbitmq-{r.get('mode')}" == c["mode"]), None)  # fmt: skip
            if ours:
                ours["of_ceiling"] = ours["msgs_per_s"] / c["msgs_per_s"]
            print(ceiling_row(c, ours), flush=True)
        results += ceilings
        if args.idle:
            print("\n| idle sockets on one process | RSS per socket | connects/s |\n|---|---|---|")
        for count in args.idle:
            per, rate = await idle_memory(db_url, sessions, count)
            results.append({"idle": count, "rss_per_socket": per, "connects_per_s": rate})
            print(f"| {count} | {per / 1024:.1f} KiB | {rate:.0f} |", flush=True)
    finally:
        await engine.dispose()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        if args.json:
            write_json(args.json, results)


if __name__ == "__main__":
    asyncio.run(main())
