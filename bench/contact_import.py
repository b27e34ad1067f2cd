"""CSV contact import throughput: rows/s for a fresh import and for an idempotent re-import,
on SQLite and PostgreSQL, through the real endpoint (in-process ASGI, multipart upload).

    python bench/contact_import.py --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_settings, database, machine, table  # noqa: E402
from runtime.api.app import create_app  # noqa: E402
from runtime.domain.tenants import create_admin, create_tenant  # noqa: E402


def make_csv(rows: int, bad_every: int) -> bytes:
    lines = ["Nomor HP;Nama;Kota;Tags"]
    for i in range(rows):
        phone = "bad-phone" if bad_every and i % bad_every == 0 else f"0813{i:08d}"
        lines.append(f"{phone};Customer {i};City {i % 50};vip|batch")
    return ("\ufeff" + "\n".join(lines) + "\n").encode()


async def run(backend: str, url: str, rows: int) -> list[list[object]]:
    app = create_app(bench_settings(url, max_upload_bytes=512 * 1024 * 1024))
    try:
        async with app.state.sessionmaker() as session:
            tenant = await create_tenant(session, "bench", "Bench", "ID")
            await create_admin(session, tenant, "admin@bench.example", "A", "bench password")
            await session.commit()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600
        )
        token = (
            await client.post(
                "/api/auth/login",
                json={"email": "admin@bench.example", "password": "bench password"},
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        data = make_csv(rows, bad_every=100)
        results: list[list[object]] = []
        for label in ("fresh import", "re-import (all updates)"):
            started = time.perf_counter()
            response = await client.post(
                "/api/contacts/imports",
                headers=headers,
                files={"file": ("c.csv", io.BytesIO(data), "text/csv")},
            )
            elapsed = time.perf_counter() - started
            job = response.json()
            assert response.status_code == 200, response.text[:300]
            results.append(
                [
                    backend,
                    label,
                    job["total_rows"],
                    job["created_count"],
                    job["updated_count"],
                    job["error_count"],
                    f"{elapsed:.1f}",
                    f"{job['total_rows'] / elapsed:,.0f}",
                ]
            )
        await client.aclose()
        return results
    finally:
        await app.state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"])
    args = parser.parse_args()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            with database(backend, Path(tmp)) as url:
                rows += asyncio.run(run(backend, url, args.rows))
    print(f"contact CSV import, {args.rows:,} rows (1% invalid) — {machine()}\n")
    print(
        table(["backend", "run", "rows", "created", "updated", "errors", "seconds", "rows/s"], rows)
    )


if __name__ == "__main__":
    main()
