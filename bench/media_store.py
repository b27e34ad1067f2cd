"""What keeping media costs per store: put and get of one file (random bytes, as
incompressible as JPEG or MP4) in the database store with 256 KiB, 1 MiB (the store's
``CHUNK_BYTES``) and whole-file rows, and in the local directory for reference; median
milliseconds of ``--repeat`` runs and each row's ratio to 1 MiB chunks, on SQLite and
PostgreSQL.

    python bench/media_store.py --sizes-mb 5 16 100 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database, machine, table  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain.tenants import create_tenant  # noqa: E402
from runtime.media import store as stores  # noqa: E402

MIB = 1024 * 1024
LAYOUTS = {"256 KiB chunks": 256 * 1024, "1 MiB chunks": MIB, "one row": None}


async def _median_ms(work: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _timed(store: stores.MediaStore, key: str, data: bytes, repeat: int) -> list[float]:
    put = await _median_ms(lambda: store.put(key, data, "application/pdf"), repeat)
    get = await _median_ms(lambda: store.get(key), repeat)
    assert await store.get(key) == data
    return [put, get]


async def run(backend: str, url: str, sizes: list[int], repeat: int, workdir: Path) -> list[list]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rows: list[list] = []
    try:
        async with sessions() as session, session.begin():
            tenant = (await create_tenant(session, "bench-media", "Bench")).id
        for size in sizes:
            data = os.urandom(size * MIB)
            measured: dict[str, list[float]] = {}
            for layout, chunk in LAYOUTS.items():
                stores.CHUNK_BYTES = chunk or len(data)
                key = f"{tenant}/{uuid.uuid4()}"
                measured[layout] = await _timed(
                    stores.DatabaseMediaStore(sessions), key, data, repeat
                )
            stores.CHUNK_BYTES = MIB
            local = stores.LocalMediaStore(workdir)
            measured["local directory"] = await _timed(local, f"{tenant}/file", data, repeat)
            base_put, base_get = measured["1 MiB chunks"]
            for layout, (put, get) in measured.items():
                rows.append(
                    [
                        backend,
                        size,
                        layout,
                        f"{put:.0f}",
                        f"{get:.0f}",
                        f"{put / base_put:.2f}",
                        f"{get / base_get:.2f}",
                    ]  # fmt: skip
                )
    finally:
        await engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[5, 16, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows: list[list] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            with database(backend, Path(tmp)) as url:
                rows += asyncio.run(run(backend, url, args.sizes_mb, args.repeat, Path(tmp)))
    print(machine())
    headers = ["backend", "MB", "store", "put ms", "get ms", "put ×1MiB", "get ×1MiB"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
