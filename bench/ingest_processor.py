"""The inbound processor alone, in process: stored new-customer webhooks applied by one
``InboundProcessor`` (no HTTP, no relay). CPU time per webhook (``time.process_time``) is the
primary number: wall time on a shared machine mostly measures the neighbours.

Each tree (a checkout of this repository, e.g. one exported with ``git archive``) is measured
in its own process with that tree first on the import path, one after the other in this run,
and compared as ratios to the first (``--repeat N``: the trees take turns N times, medians)::

    git archive d20ff32 | tar -x -C /tmp/before
    python bench/ingest_processor.py --trees before=/tmp/before after=. --webhooks 3000

``--profile N`` prints the N most expensive functions (cProfile, cumulative) of the last tree.

``--rates R …`` adds, per tree, the in-process latency at R webhooks/s (open loop): the
writer, processor and outbox relay of one process (an in-process bus, no HTTP, no
websockets), from ``accept`` returning (durable, the moment an api answers 200) to the
relay publishing the message's ``message.created``; p50/p99 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
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

from bench.common import bench_settings, database, machine, table  # noqa: E402


async def _measure(url: str, webhooks: int, batch: int, profile: int) -> dict[str, float]:
    from bench.webhook_ingest import seed, webhook_bodies
    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.ingest.processor import InboundProcessor
    from runtime.models import InboundWebhook

    settings = bench_settings(url)
    await seed(url, settings.encryption_key.get_secret_value())
    engine = make_engine(url)
    now = datetime.now(UTC)
    rows = [{"received_at": now, "body": b, "attempts": 0} for b in webhook_bodies(webhooks, 1, 0)]
    async with engine.begin() as connection:
        await connection.execute(insert(InboundWebhook), rows)
    processor = InboundProcessor(make_sessionmaker(engine), batch_size=batch)
    profiler = cProfile.Profile() if profile else None
    rounds = 0
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    while (await processor.process_pending()).claimed:
        rounds += 1
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await engine.dispose()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(profile)
        print(out.getvalue(), file=sys.stderr)
    return {"rounds": rounds, "wall_s": wall, "cpu_s": cpu}


async def _latency(url: str, messages: int, rate: float) -> dict[str, float]:
    """accept → ``message.created`` published, p50/p99 ms, ``messages`` at ``rate``/s."""
    from bench.webhook_ingest import seed, webhook_bodies
    from runtime.bus.inprocess import InProcessBus
    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.ingest import InboundPipeline
    from runtime.relay import OutboxRelay

    published: dict[str, float] = {}
    all_published = asyncio.Event()

    class TimedBus(InProcessBus):
        async def publish(self, tenant: str, events: Any) -> None:
            now = time.perf_counter()
            for event in events:
                if event.type == "message.created":
                    published[event.payload["message"]["wamid"]] = now
            if len(published) >= messages:
                all_published.set()

    await seed(url, bench_settings(url).encryption_key.get_secret_value())
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    pipeline, relay = InboundPipeline(engine, sessions), OutboxRelay(sessions, TimedBus())
    accepted: dict[str, float] = {}

    async def post(body: bytes, wamid: str) -> None:
        await pipeline.accept(body, datetime.now(UTC))
        accepted[wamid] = time.perf_counter()

    bodies = webhook_bodies(messages, 1, 10**6)
    async with relay.running(), pipeline.running():
        started, posts = time.perf_counter(), []
        for i, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            posts.append(asyncio.create_task(post(body, f"wamid.bench.{10**6 + i}")))
        await asyncio.gather(*posts)
        async with asyncio.timeout(120):
            await all_published.wait()
    await engine.dispose()
    spans = sorted(published[w] - accepted[w] for w in accepted)
    return {"p50_ms": spans[len(spans) // 2] * 1000, "p99_ms": spans[int(len(spans) * 0.99)] * 1000}


def _child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
        result: dict[str, Any] = asyncio.run(_measure(url, args.webhooks, args.batch, args.profile))
    for rate in args.rates:
        with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
            result[f"latency@{rate:g}"] = asyncio.run(_latency(url, args.latency_messages, rate))
    print(json.dumps(result))


def _run_tree(tree: str, args: argparse.Namespace, profile: int) -> dict[str, Any]:
    env = {**os.environ, "SCRM_BENCH_CHILD": "1", "PYTHONPATH": str(Path(tree).resolve())}
    command = [sys.executable, __file__, "--child", "--backend", args.backend,
               "--webhooks", str(args.webhooks), "--batch", str(args.batch),
               "--profile", str(profile), "--latency-messages", str(args.latency_messages),
               "--rates", *map(str, args.rates)]  # fmt: skip
    done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median of the runs (nested dicts alike)."""
    first = runs[0]
    return {
        key: _median([r[key] for r in runs])
        if isinstance(first[key], dict)
        else statistics.median(r[key] for r in runs)
        for key in first
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trees", nargs="+", default=["this=."], help="label=path ...")
    parser.add_argument("--webhooks", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=300, help="webhooks per round")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--rates", type=float, nargs="*", default=[], help="webhooks/s")
    parser.add_argument("--latency-messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree; medians shown")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    trees = [t.split("=", 1) for t in args.trees]
    runs: list[list[dict[str, Any]]] = [[] for _ in trees]
    for repeat in range(args.repeat):  # trees take turns, so drifting load hits each alike
        for i, (_, path) in enumerate(trees):
            last = repeat == args.repeat - 1 and i == len(trees) - 1
            runs[i].append(_run_tree(path, args, args.profile if last else 0))
    results = [_median(tree_runs) for tree_runs in runs]
    base = results[0]["cpu_s"] / args.webhooks
    rows = []
    for (label, _), r in zip(trees, results, strict=True):
        per = r["cpu_s"] / args.webhooks
        rows.append([label, args.backend, args.webhooks, args.batch, f"{per * 1000:.2f}",
                     f"{args.webhooks / r['cpu_s']:,.0f}", f"{args.webhooks / r['wall_s']:,.0f}",
                     f"{base / per:.2f}"])  # fmt: skip
    print(f"inbound processor in process, one new customer per webhook, median of "
          f"{args.repeat} run(s) per tree — {machine()}\n")  # fmt: skip
    headers = ["tree", "backend", "webhooks", "per round", "CPU ms/webhook",
               "webhooks per CPU-s", "webhooks/s (wall, noisy)", "CPU speed-up"]  # fmt: skip
    print(table(headers, rows))
    if args.rates:
        print("\nin-process latency, accept returned → message.created published (ms)\n")
        lat_rows = [
            [label, rate, f"{r[f'latency@{rate:g}']['p50_ms']:.1f}",
             f"{r[f'latency@{rate:g}']['p99_ms']:.1f}"]
            for (label, _), r in zip(trees, results, strict=True)
            for rate in args.rates
        ]  # fmt: skip
        print(table(["tree", "webhooks/s", "p50 ms", "p99 ms"], lat_rows))


if __name__ == "__main__":
    main()
