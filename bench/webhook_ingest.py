"""Webhook ingest: signed Meta notifications POSTed over HTTP to one real api process
(uvicorn, PostgreSQL or SQLite). The endpoint stores the raw body (group commit) and
answers; processors apply the stored webhooks in batches (runtime/ingest). Per batch size:

- ``accept only``: an api process with ``SCRM_INGEST_PROCESS=false`` — webhooks/s
  acknowledged (durable), request p50/p99 and the api's CPU per webhook;
- ``process backlog``: a processing api process applies what that run stored — webhooks/s;
- ``accept + process``: both in one process — acknowledged/s, p50/p99, and webhooks/s
  applied (first POST until nothing is left to apply).

Each webhook carries ``--batch`` inbound messages from distinct customers (new contact,
conversation, message, outbox events each); ``--messages`` per run; ``--clients`` keep-alive
connections from a light load generator (closed loop, in this process: its CPU per request is
printed too, as it shares the machine with the api). ``--phases accept`` runs the first phase
only. ``--trees label=path …`` runs the api process from each tree (a checkout, e.g. exported
with ``git archive``) in turn, ``--repeat`` times, and prints each tree's medians and their
ratios to the first tree's::

    python bench/webhook_ingest.py --messages 20000 --clients 32 --batch 1 --backends postgres
    python bench/webhook_ingest.py --phases accept --backends postgres --batch 1 \
        --trees before=/tmp/before after=. --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_settings,
    cpu_of,
    database,
    machine,
    percentile,
    table,
)
from bench.realtime_load import Http  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain.security import encrypt_secret  # noqa: E402
from runtime.domain.tenants import create_tenant  # noqa: E402
from runtime.models import InboundWebhook, Sender  # noqa: E402
from runtime.whatsapp import webhooks  # noqa: E402
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign  # noqa: E402
from tests.support import free_port  # noqa: E402

NUMBER = webhooks.BusinessNumber("1029", "5550001", "15550001")


async def seed(url: str, key: str) -> None:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        tenant = await create_tenant(session, "bench", "Bench", "ID")
        session.add(
            Sender(
                tenant_id=tenant.id,
                phone_number_id=NUMBER.phone_number_id,
                display_number="+15550001",
                waba_id=NUMBER.waba_id,
                access_token_encrypted=encrypt_secret("EAAG-bench-token", key),
            )
        )
        await session.commit()
    await engine.dispose()


def start_api(
    env: dict[str, str], port: int, *, process: bool, tree: str
) -> subprocess.Popen[bytes]:
    code = (
        "from runtime.api.app import create_app; from runtime.settings import Settings; "
        "from runtime.ws.server import serve; "
        f"serve(create_app(Settings()), '127.0.0.1', {port}, log_level='warning')"
    )
    env = {
        **os.environ, **env, "SCRM_INGEST_PROCESS": str(process).lower(),
        "PYTHONPATH": str(Path(tree).resolve()),
    }  # fmt: skip
    # In the tree's directory: ``-c`` puts the working directory first on the import path.
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tree)


def webhook_bodies(messages: int, batch: int, offset: int) -> list[bytes]:
    """Bodies of ``batch`` messages each, every message from a new customer."""
    bodies = []
    for i in range(offset, offset + messages, batch):
        inbound = [
            webhooks.inbound_text(
                NUMBER, webhooks.Customer(f"62812{i + j:08d}", "Bench"), body=f"hello {i + j}",
                message_id=f"wamid.bench.{i + j}", timestamp=int(time.time()),
            )["entry"][0]["changes"][0]["value"]
            for j in range(batch)
        ]  # fmt: skip
        value = {
            **inbound[0],
            "contacts": [v["contacts"][0] for v in inbound],
            "messages": [v["messages"][0] for v in inbound],
        }
        notification = webhooks.notification(NUMBER.waba_id, "messages", value)
        bodies.append(json.dumps(notification, separators=(",", ":")).encode())
    return bodies


async def wait_healthy(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError("the api did not start")


@dataclass
class Posted:
    latencies: list[float]  # ms per request
    seconds: float  # first POST to last answer
    generator_cpu: float  # CPU seconds of this process (the load generator) meanwhile

    def measures(self, count: int) -> tuple[float, float, float]:
        """Acknowledged/s, p50 and p99 ms."""
        return (count / self.seconds, percentile(self.latencies, 0.5),
                percentile(self.latencies, 0.99))  # fmt: skip


async def post_all(port: int, bodies: list[bytes], clients: int, secret: str) -> Posted:
    """POST every body over ``clients`` keep-alive connections, each waiting for its
    answer before the next (signing included in the generator's CPU)."""
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def worker() -> None:
        http = Http(port)
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            status = await http.post(
                "/webhooks/whatsapp", body, {SIGNATURE_HEADER: sign(body, secret)}
            )
            latencies.append((time.perf_counter() - started) * 1000)
            assert status == 200, status

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return Posted(latencies, time.perf_counter() - started, time.process_time() - cpu)


async def seconds_until_applied(url: str, started: float, within: float = 900) -> float:
    """Seconds from ``started`` (perf_counter) until no stored webhook is left to apply."""
    engine = make_engine(url)
    left = select(func.count()).where(InboundWebhook.processed_at.is_(None))
    try:
        async with asyncio.timeout(within):
            while True:
                async with engine.connect() as connection:
                    if not (await connection.execute(left)).scalar_one():
                        return time.perf_counter() - started
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


@dataclass
class Api:
    """One api process for the length of a ``with`` block."""

    env: dict[str, str]
    process: bool
    tree: str

    def __enter__(self) -> int:
        self.port = free_port()
        self.server = start_api(self.env, self.port, process=self.process, tree=self.tree)
        asyncio.run(wait_healthy(self.port))
        return self.port

    def __exit__(self, *_: object) -> None:
        self.server.terminate()
        self.server.wait(timeout=30)


def run_batch(url: str, env: dict[str, str], batch: int, offset: int, args: argparse.Namespace,
              secret: str, tree: str) -> list[list[object]]:  # fmt: skip
    """Per phase: acknowledged/s, p50, p99, applied/s, api CPU ms/webhook, generator CPU
    ms/request (None where a phase has no such measure)."""
    first = webhook_bodies(args.messages, batch, offset)
    accepting = Api(env, process=False, tree=tree)
    with accepting as port:
        cpu_before = cpu_of(accepting.server.pid)
        posted = asyncio.run(post_all(port, first, args.clients, secret))
        cpu_ms = (cpu_of(accepting.server.pid) - cpu_before) * 1000 / len(first)
    rows: list[list[object]] = [["accept only", *posted.measures(len(first)), None, cpu_ms,
                                 posted.generator_cpu * 1000 / len(first)]]  # fmt: skip
    if args.phases == "accept":
        return rows
    second = webhook_bodies(args.messages, batch, offset + args.messages)
    with Api(env, process=True, tree=tree) as port:
        backlog = asyncio.run(seconds_until_applied(url, time.perf_counter()))
        rows.append(["process backlog", None, None, None, len(first) / backlog, None, None])
        started = time.perf_counter()
        posted = asyncio.run(post_all(port, second, args.clients, secret))
        applied = asyncio.run(seconds_until_applied(url, started))
    rows.append(["accept + process", *posted.measures(len(second)), len(second) / applied,
                 None, posted.generator_cpu * 1000 / len(second)])  # fmt: skip
    return rows


def run_backend(backend: str, workdir: Path, args: argparse.Namespace) -> list[list[object]]:
    """Rows of (tree, backend, batch, phase, measures…), every run of every tree."""
    rows: list[list[object]] = []
    runs = itertools.count()
    with database(backend, workdir) as url:
        settings = bench_settings(url)
        key = settings.encryption_key.get_secret_value()
        secret = settings.whatsapp_app_secret.get_secret_value()
        asyncio.run(seed(url, key))
        env = {
            "SCRM_DATABASE_URL": url,
            "SCRM_JWT_SECRET": settings.jwt_secret.get_secret_value(),
            "SCRM_ENCRYPTION_KEY": key,
            "SCRM_WHATSAPP_APP_SECRET": secret,
            "SCRM_WHATSAPP_VERIFY_TOKEN": "v",
        }
        for batch in args.batch:
            for _ in range(args.repeat):  # trees take turns: drifting load hits each alike
                for label, tree in args.trees:
                    offset = 2 * next(runs) * args.messages
                    for row in run_batch(url, env, batch, offset, args, secret, tree):
                        rows.append([label, backend, batch, *row])
    return rows


def medians(rows: list[list[object]], trees: list[tuple[str, str]]) -> list[list[object]]:
    """One row per tree, backend, batch and phase: the median of each measure over the runs,
    then the first tree's acknowledged/s and api CPU as ratios (this tree ÷ first tree)."""
    groups: dict[tuple[object, ...], list[list[Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[:4]), []).append(row[4:])
    merged = {key: [_median([r[i] for r in runs]) for i in range(len(runs[0]))]
              for key, runs in groups.items()}  # fmt: skip
    first = trees[0][0]
    out: list[list[object]] = []
    for key, values in merged.items():
        base = merged.get((first, *key[1:]), values)
        ratios = [_ratio(values[i], base[i]) for i in (0, 4)]
        out.append([*key, *(_fmt(v) for v in values), *ratios])
    return out


def _median(values: list[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    return present[len(present) // 2] if present else None


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}" if value is not None and base else ""


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000, help="messages per run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"])
    parser.add_argument("--phases", choices=["accept", "all"], default="all")
    parser.add_argument("--trees", nargs="+", default=["this=."], help="label=path ...")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree; medians shown")
    args = parser.parse_args()
    args.trees = [tuple(t.split("=", 1)) for t in args.trees]
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            rows += run_backend(backend, Path(tmp), args)
    print(f"webhook ingest over HTTP, one api process, {args.clients} clients, "
          f"{args.repeat} run(s) per tree — {machine()}\n")  # fmt: skip
    headers = ["tree", "backend", "msgs/webhook", "phase", "acknowledged webhooks/s",
               "p50 ms", "p99 ms", "applied webhooks/s", "api CPU ms/webhook",
               "generator CPU ms/request", "acknowledged ratio", "api CPU ratio"]  # fmt: skip
    print(table(headers, medians(rows, args.trees)))


if __name__ == "__main__":
    main()
