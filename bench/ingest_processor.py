"""The inbound processor alone, in process: stored new-customer webhooks applied by one
``InboundProcessor`` (no HTTP, no relay). CPU time per webhook (``time.process_time``) is the
primary number: wall time on a shared machine mostly measures the neighbours.

Each tree (a checkout of this repository, e.g. one exported with ``git archive``) is measured
in its own process with that tree first on the import path, one after the other in this run,
and compared as ratios to the first (``--repeat N``: the trees take turns N times, medians),
with the garbage collector as that tree's serving process has it (``runtime.gc_tuning``)::

    git archive d20ff32 | tar -x -C /tmp/before
    python bench/ingest_processor.py --trees before=/tmp/before after=. --webhooks 3000

``--single N`` adds, per tree, N webhooks applied ONE per round (the row stored, then one
round): CPU ms and wall ms per round (medians, after a few warm-up rounds) and the database
round trips per round (statements, BEGIN and COMMIT, counted by a ``before_cursor_execute``
listener) — the cost of a round at a trickle, where the batch measure shows the marginal
cost per webhook at ``--batch`` per round.

``--profile N`` prints the N most expensive functions (cProfile, cumulative) of the last tree.

``--rates R …`` adds, per tree, the in-process latency at R webhooks/s (open loop): the
writer, processor and outbox relay of one process (an in-process bus, no HTTP, no
websockets), from ``accept`` returning (durable, the moment an api answers 200) to the
relay publishing the message's ``message.created``; p50/p99 ms, the time of each hop, the
database round trips per webhook (polls included) and the process's CPU per webhook.
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
    await processor.close()
    await engine.dispose()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(profile)
        print(out.getvalue(), file=sys.stderr)
    return {"rounds": rounds, "wall_s": wall, "cpu_s": cpu}


_WARM_UP_ROUNDS = 5  # compile the statements and fill the caches before measuring


async def _single(url: str, webhooks: int) -> dict[str, float]:
    """``webhooks`` new-customer webhooks, each stored then applied in a round of its own:
    median CPU and wall ms per round, and round trips per round."""
    from bench.webhook_ingest import seed, webhook_bodies
    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.ingest.processor import InboundProcessor
    from runtime.models import InboundWebhook

    await seed(url, bench_settings(url).encryption_key.get_secret_value())
    engine = make_engine(url)
    round_trips = _count_round_trips(engine)
    processor = InboundProcessor(make_sessionmaker(engine))
    cpu, wall, trips = [], [], []
    for i, body in enumerate(webhook_bodies(_WARM_UP_ROUNDS + webhooks, 1, 2 * 10**6)):
        async with engine.begin() as connection:
            row = {"received_at": datetime.now(UTC), "body": body, "attempts": 0}
            await connection.execute(insert(InboundWebhook), [row])
        round_trips.clear()
        started, used = time.perf_counter(), time.process_time()
        assert (await processor.process_pending()).claimed == 1
        if i >= _WARM_UP_ROUNDS:
            cpu.append(time.process_time() - used)
            wall.append(time.perf_counter() - started)
            trips.append(len(round_trips))
    await processor.close()
    await engine.dispose()
    return {"cpu_ms": statistics.median(cpu) * 1000, "wall_ms": statistics.median(wall) * 1000,
            "round_trips": statistics.fmean(trips)}  # fmt: skip


# The hops of one webhook, in path order: (column, mark it starts at, mark it ends at).
HOPS = [
    ("accept → group commit starts (writer linger)", "called", "write"),
    ("group commit (INSERT, COMMIT) → accept returns", "write", "stored"),
    ("stored → processor round starts (wake-up, round in progress)", "stored", "round"),
    ("round start → rows claimed (BEGIN, lease, claim)", "round", "claimed"),
    ("claimed → round committed (apply, writes, COMMIT)", "claimed", "applied"),
    ("committed → relay round starts (wake-up, linger, round in progress)", "applied", "relay"),
    ("relay round start → published (lease, claim, publish)", "relay", "published"),
]


_ORIGINALS: dict[str, Any] = {}
_TRACER: list[Any] = []  # the tracer of the current run (the Session hooks stay installed)
_TRACED = "bench.traced"  # session.info: the wamids a processor round claimed


class _Tracer:
    """Per-webhook timestamps at each hop, taken by wrapping the pipeline's methods in this
    (bench) process only: the code under test carries no instrumentation. Works on any tree
    that has ``GroupCommitWriter._write``, ``InboundProcessor._round``/``_claim`` and
    ``OutboxRelay._publish_round``."""

    def __init__(self) -> None:
        self.marks: dict[str, dict[str, float]] = {}  # wamid → mark → perf_counter
        self.wamid_of: dict[bytes, str] = {}  # stored body → its message's wamid

    def mark(self, wamid: str, name: str, at: float | None = None) -> None:
        self.marks.setdefault(wamid, {}).setdefault(name, at or time.perf_counter())

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        from runtime.ingest.accept import GroupCommitWriter
        from runtime.ingest.processor import InboundProcessor
        from runtime.relay import OutboxRelay

        if not _ORIGINALS:  # wrap the originals, not the wrappers of an earlier run
            _ORIGINALS.update(
                write=GroupCommitWriter._write, round=InboundProcessor._round,
                claim=InboundProcessor._claim, publish_round=OutboxRelay._publish_round,
            )  # fmt: skip
            # "applied" is marked at the commit (the relay's wake-up), not when _round returns
            event.listen(Session, "after_commit", lambda s: _TRACER[0].committed(s))
            event.listen(Session, "after_rollback", lambda s: s.info.pop(_TRACED, None))
        _TRACER[:] = [self]
        tracer, write, round_ = self, _ORIGINALS["write"], _ORIGINALS["round"]
        claim, publish_round = _ORIGINALS["claim"], _ORIGINALS["publish_round"]

        async def traced_write(writer: Any, batch: list[Any]) -> None:
            for body in batch:
                tracer.mark(tracer.wamid_of[body.raw], "write")
            await write(writer, batch)

        async def traced_round(processor: Any, *, isolate: bool) -> Any:
            processor._traced_start = time.perf_counter()
            return await round_(processor, isolate=isolate)

        async def traced_claim(processor: Any, session: Any) -> Any:
            rows = await claim(processor, session)
            claimed = session.sync_session.info.setdefault(_TRACED, [])
            for row in rows:
                wamid = tracer.wamid_of[bytes(row.body)]
                tracer.mark(wamid, "round", processor._traced_start)
                tracer.mark(wamid, "claimed")
                claimed.append(wamid)
            return rows

        # The relay's round takes its connection (older trees: none).
        async def traced_publish_round(relay: Any, *connection: Any) -> Any:
            relay._traced_start = time.perf_counter()
            return await publish_round(relay, *connection)

        GroupCommitWriter._write = traced_write  # type: ignore[method-assign]
        InboundProcessor._round = traced_round  # type: ignore[method-assign]
        InboundProcessor._claim = traced_claim  # type: ignore[method-assign]
        OutboxRelay._publish_round = traced_publish_round  # type: ignore[method-assign]

    def committed(self, session: Any) -> None:
        for wamid in session.info.pop(_TRACED, ()):
            self.mark(wamid, "applied")

    def hops(self) -> dict[str, dict[str, float]]:
        """Per hop (and the totals): mean, p50, p99 in ms over the webhooks that passed every
        mark. Means add up to the total's mean; percentiles do not."""
        complete = [m for m in self.marks.values() if len(m) == 8]
        spans = [(label, start, end) for label, start, end in HOPS] + [
            ("total: accept returned → published", "stored", "published"),
            ("total: accept called → published", "called", "published"),
        ]
        result = {}
        for label, start, end in spans:
            values = sorted((m[end] - m[start]) * 1000 for m in complete)
            result[label] = {
                "mean": statistics.fmean(values),
                "p50": values[len(values) // 2],
                "p99": values[int(len(values) * 0.99)],
            }
        return result


async def _latency(url: str, messages: int, rate: float) -> dict[str, Any]:
    """accept → ``message.created`` published, p50/p99 ms, ``messages`` at ``rate``/s, and
    the time per hop (:class:`_Tracer`)."""
    from bench.webhook_ingest import seed, webhook_bodies
    from runtime.bus.inprocess import InProcessBus
    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.ingest import InboundPipeline
    from runtime.relay import OutboxRelay

    tracer = _Tracer()
    tracer.install()
    all_published = asyncio.Event()
    published = 0

    class TimedBus(InProcessBus):
        async def publish(self, tenant: str, events: Any) -> None:
            nonlocal published
            for event in events:
                if event.type == "message.created":
                    relay_start = relay._traced_start  # type: ignore[attr-defined]
                    wamid = event.payload["message"]["wamid"]
                    tracer.mark(wamid, "relay", relay_start)
                    tracer.mark(wamid, "published")
                    published += 1
            if published >= messages:
                all_published.set()

    await seed(url, bench_settings(url).encryption_key.get_secret_value())
    engine = make_engine(url)
    round_trips = _count_round_trips(engine)
    sessions = make_sessionmaker(engine)
    pipeline, relay = InboundPipeline(engine, sessions), OutboxRelay(sessions, TimedBus())

    async def post(body: bytes, wamid: str) -> None:
        tracer.mark(wamid, "called")
        await pipeline.accept(body, datetime.now(UTC))
        tracer.mark(wamid, "stored")

    bodies = webhook_bodies(messages, 1, 10**6)
    for i, body in enumerate(bodies):
        tracer.wamid_of[body] = f"wamid.bench.{10**6 + i}"
    cpu = time.process_time()
    async with relay.running(), pipeline.running():
        round_trips.clear()
        started, posts = time.perf_counter(), []
        for i, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            posts.append(asyncio.create_task(post(body, tracer.wamid_of[body])))
        await asyncio.gather(*posts)
        async with asyncio.timeout(120):
            await all_published.wait()
    cpu = time.process_time() - cpu
    trips = len(round_trips) / messages
    await engine.dispose()
    hops = tracer.hops()
    total = hops["total: accept returned → published"]
    return {"p50_ms": total["p50"], "p99_ms": total["p99"], "hops": hops,
            "round_trips": trips, "cpu_ms": cpu * 1000 / messages}  # fmt: skip


def _count_round_trips(engine: Any) -> list[str]:
    """A list growing by one per database round trip of ``engine``: statements, and the
    ``BEGIN``, ``COMMIT`` and ``ROLLBACK`` of transactions (an autocommitted statement has
    none). The machine's load cannot change it, unlike times."""
    from sqlalchemy import event

    trips: list[str] = []

    def autocommit(connection: Any) -> bool:
        return connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

    def statement(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        trips.append(sql)

    def begin(connection: Any) -> None:
        if not autocommit(connection):
            trips.append("BEGIN")

    def end(_connection: Any) -> None:
        trips.append("END")

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", statement)
    event.listen(sync, "begin", begin)
    event.listen(sync, "commit", end)
    event.listen(sync, "rollback", end)
    return trips


def _as_served() -> None:
    """The garbage collector as a serving process has it (``scrm api`` calls
    ``runtime.gc_tuning.tune_for_latency`` before serving), in a tree that has it."""
    import runtime.ingest.processor  # noqa: F401  (startup objects to freeze)
    import runtime.relay  # noqa: F401

    try:
        from runtime.gc_tuning import tune_for_latency
    except ImportError:
        return
    tune_for_latency()


def _child(args: argparse.Namespace) -> None:
    _as_served()
    with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
        result: dict[str, Any] = asyncio.run(_measure(url, args.webhooks, args.batch, args.profile))
    if args.single:
        with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
            result["single"] = asyncio.run(_single(url, args.single))
    for rate in args.rates:
        with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
            result[f"latency@{rate:g}"] = asyncio.run(_latency(url, args.latency_messages, rate))
    print(json.dumps(result))


def _run_tree(tree: str, args: argparse.Namespace, profile: int) -> dict[str, Any]:
    env = {**os.environ, "SCRM_BENCH_CHILD": "1", "PYTHONPATH": str(Path(tree).resolve())}
    command = [sys.executable, __file__, "--child", "--backend", args.backend,
               "--webhooks", str(args.webhooks), "--batch", str(args.batch),
               "--profile", str(profile), "--single", str(args.single),
               "--latency-messages", str(args.latency_messages),
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
    parser.add_argument("--single", type=int, default=0, help="webhooks applied one per round")
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
    if args.single:
        _print_single(trees, results, args.single)
    if args.rates:
        _print_latency(trees, results, args.rates)


def _print_single(trees: list[list[str]], results: list[dict[str, Any]], webhooks: int) -> None:
    """One webhook per round: CPU, wall and round trips per round, CPU as a ratio to the
    first tree."""
    print(f"\none new-customer webhook per round, {webhooks} rounds (medians)\n")
    first = results[0]["single"]["cpu_ms"]
    rows = [[label, f"{r['single']['cpu_ms']:.1f}", f"{r['single']['wall_ms']:.1f}",
             f"{r['single']['round_trips']:.1f}", f"{first / r['single']['cpu_ms']:.2f}"]
            for (label, _), r in zip(trees, results, strict=True)]  # fmt: skip
    print(table(["tree", "CPU ms/round", "wall ms/round (noisy)",
                 "DB round trips/round", "CPU speed-up"], rows))  # fmt: skip


def _print_latency(
    trees: list[list[str]], results: list[dict[str, Any]], rates: list[float]
) -> None:
    """The totals per tree and rate (as ratios to the first tree), then per rate the time
    of each hop, every tree side by side."""
    print("\nin-process latency, accept returned → message.created published (ms)\n")
    rows = []
    for rate in rates:
        first = results[0][f"latency@{rate:g}"]
        for (label, _), r in zip(trees, results, strict=True):
            at = r[f"latency@{rate:g}"]
            rows.append([label, f"{rate:g}", f"{at['p50_ms']:.1f}", f"{at['p99_ms']:.1f}",
                         f"{at['p50_ms'] / first['p50_ms']:.2f}",
                         f"{at['p99_ms'] / first['p99_ms']:.2f}",
                         f"{at['round_trips']:.1f}", f"{at['cpu_ms']:.2f}"])  # fmt: skip
    print(table(["tree", "webhooks/s", "p50 ms", "p99 ms", "p50 ratio", "p99 ratio",
                 "DB round trips/webhook", "CPU ms/webhook"], rows))  # fmt: skip
    for rate in rates:
        print(f"\nper hop at {rate:g} webhooks/s, ms: mean / p50 / p99 (means add up)\n")
        hops = list(results[0][f"latency@{rate:g}"]["hops"])
        hop_rows = [
            [hop, *(" / ".join(f"{r[f'latency@{rate:g}']['hops'][hop][k]:.1f}"
                               for k in ("mean", "p50", "p99")) for r in results)]
            for hop in hops
        ]  # fmt: skip
        print(table(["hop", *(label for label, _ in trees)], hop_rows))


if __name__ == "__main__":
    main()
