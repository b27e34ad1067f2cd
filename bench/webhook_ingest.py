"""Webhook ingest: signed Meta notifications POSTed over HTTP to a real api process
(uvicorn, PostgreSQL or SQLite), measuring accepted messages/s and request latency.

Each webhook carries ``--batch`` inbound messages from distinct customers (new contact,
conversation, message, two outbox events each). Concurrency comes from ``--clients``
HTTP connections in the load generator.

    python bench/webhook_ingest.py --messages 5000 --clients 8 --batch 1 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_settings, database, machine, percentile, table  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain.security import encrypt_secret  # noqa: E402
from runtime.domain.tenants import create_tenant  # noqa: E402
from runtime.models import Sender  # noqa: E402
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


def start_api(settings_env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    code = (
        "from runtime.api.app import create_app; from runtime.settings import Settings; "
        "from runtime.ws.server import serve; "
        f"serve(create_app(Settings()), '127.0.0.1', {port}, log_level='warning')"
    )
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **settings_env})


async def load(
    port: int, total: int, clients: int, batch: int, secret: str, offset: int
) -> tuple[list[float], float]:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for i in range(0, total, batch):
            customers = [
                webhooks.Customer(f"62812{offset + i + j:08d}", "Bench") for j in range(batch)
            ]
            messages = [
                webhooks.inbound_text(
                    NUMBER,
                    c,
                    body=f"hello {offset + i}",
                    message_id=f"wamid.bench.{offset + i + j}",
                    timestamp=int(time.time()),
                )
                for j, c in enumerate(customers)
            ]
            value = {**messages[0]["entry"][0]["changes"][0]["value"]}
            value["contacts"] = [
                m["entry"][0]["changes"][0]["value"]["contacts"][0] for m in messages
            ]
            value["messages"] = [
                m["entry"][0]["changes"][0]["value"]["messages"][0] for m in messages
            ]
            queue.put_nowait(
                json.dumps(webhooks.notification(NUMBER.waba_id, "messages", value)).encode()
            )
        latencies: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                r = await http.post(
                    "/webhooks/whatsapp",
                    content=body,
                    headers={
                        SIGNATURE_HEADER: sign(body, secret),
                        "Content-Type": "application/json",
                    },
                )
                latencies.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return latencies, time.perf_counter() - started


def run_backend(backend: str, workdir: Path, args: argparse.Namespace) -> list[list[object]]:
    rows: list[list[object]] = []
    with database(backend, workdir) as url:
        settings = bench_settings(url)
        key = settings.encryption_key.get_secret_value()
        asyncio.run(seed(url, key))
        env = {
            "SCRM_DATABASE_URL": url,
            "SCRM_JWT_SECRET": settings.jwt_secret.get_secret_value(),
            "SCRM_ENCRYPTION_KEY": key,
            "SCRM_WHATSAPP_APP_SECRET": settings.whatsapp_app_secret.get_secret_value(),
            "SCRM_WHATSAPP_VERIFY_TOKEN": "v",
        }
        port = free_port()
        server = start_api(env, port)
        try:
            for index, batch in enumerate(args.batch):
                latencies, elapsed = asyncio.run(load(
                    port, args.messages, args.clients, batch,
                    settings.whatsapp_app_secret.get_secret_value(), index * args.messages,
                ))  # fmt: skip
                rows.append([
                    backend, batch, args.clients, args.messages,
                    f"{args.messages / elapsed:,.0f}",
                    f"{percentile(latencies, 0.5):.1f}", f"{percentile(latencies, 0.99):.1f}",
                ])  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"])
    args = parser.parse_args()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            rows += run_backend(backend, Path(tmp), args)
    print(f"webhook ingest over HTTP, one api process — {machine()}\n")
    headers = ["backend", "msgs/webhook", "clients", "messages", "stored msgs/s", "p50 ms",
               "p99 ms"]  # fmt: skip
    print(table(headers, rows))


if __name__ == "__main__":
    main()
