"""The outbox relay's cost per round on PostgreSQL with an in-process bus (no broker: the
relay's own work and its round trips), for rounds of 1 event (light load) and of 500 (a full
batch), two ways:

- ``one-off``: ``OutboxRelay.publish_pending()`` (a connection from the pool), CPU and wall
  time of the whole round (``BEGIN`` … ``COMMIT``);
- ``loop``: the relay's own loop (``running()``) woken after the events were committed, CPU
  and wall time from the wake-up until the bus has the batch (the ``COMMIT`` after it is
  not included).

Each tree (a checkout, e.g. exported with ``git archive``) is measured in its own process
with that tree first on the import path, the trees taking turns ``--repeat`` times; medians
are printed with ratios to the first tree::

    python bench/relay_round.py --trees before=/tmp/before after=. --rounds 300 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if "SCRM_BENCH_CHILD" not in os.environ:  # a child imports the tree on its PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bench.common import database, machine, table  # noqa: E402

PAYLOAD = {"conversation_id": "c0ffee", "message": {"wamid": "wamid.bench", "body": "hello"}}


async def _measure(url: str, sizes: list[int], rounds: int) -> dict[str, dict[str, float]]:
    """Per way and round size: CPU ms and wall ms per round (medians), CPU µs per event."""
    from runtime.bus.inprocess import InProcessBus
    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.domain.tenants import create_tenant
    from runtime.models import Event
    from runtime.relay import OutboxRelay

    class SignallingBus(InProcessBus):
        def __init__(self) -> None:
            super().__init__("fanout")
            self.published = asyncio.Event()

        async def publish(self, tenant: str, events: Any) -> None:
            await super().publish(tenant, events)
            self.published.set()

    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session:
        tenant = await create_tenant(session, "relaybench", "Relay bench", "ID")
        await session.commit()
    seq = 0

    async def commit_events(size: int) -> None:
        nonlocal seq
        now = datetime.now(UTC)
        rows = [{"tenant_id": tenant.id, "seq": seq + i, "type": "message.created",
                 "payload": PAYLOAD, "audience": ["inbox.all"], "created_at": now,
                 "publish_attempts": 0} for i in range(1, size + 1)]  # fmt: skip
        seq += size
        async with engine.begin() as connection:
            await connection.execute(insert(Event), rows)

    async def one_off(relay: Any, bus: Any, size: int) -> None:
        assert await relay.publish_pending() == size

    async def loop(relay: Any, bus: Any, size: int) -> None:
        bus.published.clear()
        relay.wake()
        async with asyncio.timeout(30):
            await bus.published.wait()

    results: dict[str, dict[str, float]] = {}
    for way, round_ in (("one-off", one_off), ("loop", loop)):
        bus = SignallingBus()
        relay = OutboxRelay(sessionmaker, bus, poll_interval=60, linger=0)
        async with relay.running() if way == "loop" else contextlib.nullcontext():
            await asyncio.sleep(0.1)  # the loop has started: it can be woken
            for size in sizes:
                cpu: list[float] = []
                wall: list[float] = []
                for _ in range(rounds + 5):  # the first five warm up (connections, caches)
                    await commit_events(size)
                    await asyncio.sleep(0.002)  # the previous round's COMMIT is done
                    started, cpu_started = time.perf_counter(), time.process_time()
                    await round_(relay, bus, size)
                    wall.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - cpu_started)
                cpu_ms = statistics.median(cpu[5:]) * 1000
                results[f"{way} {size}"] = {
                    "cpu_ms": cpu_ms, "wall_ms": statistics.median(wall[5:]) * 1000,
                    "cpu_us_per_event": cpu_ms * 1000 / size,
                }  # fmt: skip
    await engine.dispose()
    return results


def _child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database("postgres", Path(tmp)) as url:
        print(json.dumps(asyncio.run(_measure(url, args.sizes, args.rounds))))


def _run_tree(tree: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    env = {**os.environ, "SCRM_BENCH_CHILD": "1", "PYTHONPATH": str(Path(tree).resolve())}
    command = [sys.executable, __file__, "--child", "--rounds", str(args.rounds),
               "--sizes", *map(str, args.sizes)]  # fmt: skip
    done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trees", nargs="+", default=["this=."], help="label=path ...")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 500], help="events/round")
    parser.add_argument("--rounds", type=int, default=200, help="rounds per size")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree; medians shown")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    trees = [t.split("=", 1) for t in args.trees]
    runs: list[list[dict[str, dict[str, float]]]] = [[] for _ in trees]
    for _ in range(args.repeat):  # trees take turns, so drifting load hits each alike
        for i, (_, path) in enumerate(trees):
            runs[i].append(_run_tree(path, args))
    medians = [
        {size: {k: statistics.median(r[size][k] for r in tree_runs) for k in tree_runs[0][size]}
         for size in tree_runs[0]}
        for tree_runs in runs
    ]  # fmt: skip
    rows: list[list[Any]] = []
    for size in medians[0]:
        base = medians[0][size]
        for (label, _), m in zip(trees, medians, strict=True):
            rows.append([*size.split(), label,
                         f"{m[size]['cpu_ms']:.2f}", f"{m[size]['wall_ms']:.2f}",
                         f"{m[size]['cpu_us_per_event']:.1f}",
                         f"{m[size]['cpu_ms'] / base['cpu_ms']:.2f}",
                         f"{m[size]['wall_ms'] / base['wall_ms']:.2f}"])  # fmt: skip
    print(f"outbox relay, one round (PostgreSQL, in-process bus), {args.rounds} rounds per size, "
          f"{args.repeat} run(s) per tree — {machine()}\n")  # fmt: skip
    print(table(["way", "events/round", "tree", "CPU ms/round", "wall ms/round", "CPU µs/event",
                 "CPU ratio", "wall ratio"], rows))  # fmt: skip


if __name__ == "__main__":
    main()
