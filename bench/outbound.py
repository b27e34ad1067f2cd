"""Outbound: template sends through the send queue, worked by N ``scrm sender-worker``
processes, to the simulator (a subprocess) on PostgreSQL.

Measures the achieved send rate at the simulator against the sum of the numbers' rates,
duplicates (per ``biz_opaque_callback_data``), the simulator's rate-limit refusals (130429),
and the most sends any number had in one second — counted by fixed whole seconds and by a
sliding 1-s window, both at the worker (when each send was handed to HTTP: the workers run
here with a transport that notes it) and at the simulator (when it accepted the send). Then
where the CPU went while sending (the workers, the simulator, the PostgreSQL backends serving
the workers, everything else on the machine), from /proc (Linux, a local PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench.common import (  # noqa: E402
    bench_settings,
    cpu_of,
    database,
    machine,
    percentile,
    table,
)
from runtime.db.session import make_engine  # noqa: E402
from runtime.outbound import run_sender_worker  # noqa: E402
from runtime.settings import get_settings  # noqa: E402
from runtime.whatsapp.transport import KeepAliveTransport, graph_http  # noqa: E402
from tests.api.outbound_stack import (  # noqa: E402
    Simulator,
    env_of,
    free_port,
    healthy,
    message_states,
    queue_templates_batch,
    seed,
    start_simulator,
)


class NotingTransport(KeepAliveTransport):
    """The sender worker's transport, noting when each send is handed to it (Unix time) by
    its callback data (the message id)."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[tuple[str, float]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.time()
        if request.url.path.endswith("/messages"):
            callback = json.loads(request.content).get("biz_opaque_callback_data")
            self.starts.append((str(callback), started))
        return await super().handle_async_request(request)


def work_noting_starts(starts_file: Path) -> None:
    """A ``scrm sender-worker`` (until SIGTERM) whose send start times go to ``starts_file``."""

    async def main() -> list[tuple[str, float]]:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        transport = NotingTransport()
        await run_sender_worker(get_settings(), stop, graph_http(transport=transport))
        return transport.starts

    starts_file.write_text(json.dumps(asyncio.run(main())))


def start_noting_worker(env: dict[str, str], starts_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--noting-worker", str(starts_file)], env=env
    )


def most_in_one_second(times: Iterable[float]) -> tuple[int, int]:
    """The most of ``times`` in one whole second, and in any 1-s window [t, t + 1)."""
    ordered = sorted(times)
    fixed = max(Counter(int(t) for t in ordered).values(), default=0)
    sliding, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - 1.0:
            first += 1
        sliding = max(sliding, last - first + 1)
    return fixed, sliding


def per_number_peaks(times: dict[str, list[float]]) -> tuple[int, int]:
    """:func:`most_in_one_second` over every number (the highest of each kind)."""
    peaks = [most_in_one_second(moments) for moments in times.values()]
    return max((p[0] for p in peaks), default=0), max((p[1] for p in peaks), default=0)


def machine_busy_seconds() -> float:
    """CPU seconds every core spent busy since boot (all processes)."""
    user, nice, system, _idle, _iowait, irq, softirq, *_ = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


async def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (the workers' pools)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return [int(pid) for pid in rows.scalars()]
    finally:
        await engine.dispose()


async def unknown_reasons(url: str) -> dict[str, int]:
    """Why messages are ``unknown`` (their error message), with counts."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT error_message, count(*) FROM messages "
                    "WHERE status = 'unknown' GROUP BY error_message"
                )
            )
            return {str(reason): int(count) for reason, count in rows.all()}
    finally:
        await engine.dispose()


class CpuMeter:
    """CPU seconds per role from the start of sending to the last send."""

    def __init__(self, workers: list[int], simulator: int) -> None:
        self.workers, self.simulator = workers, simulator
        self.start = self._sample([])

    def _sample(self, backends: list[int]) -> dict[str, float]:
        return {
            "workers": sum(cpu_of(pid) for pid in self.workers),
            "simulator": cpu_of(self.simulator),
            "postgres": sum(cpu_of(pid) for pid in backends),  # 0 for a backend gone
            "machine": machine_busy_seconds(),
        }

    def split(self, backends: list[int]) -> dict[str, float]:
        """The roles' CPU seconds since the start; ``other``: the rest of the machine (the
        bench itself, other users). The backends are new with the workers, so their whole
        CPU counts."""
        end = self._sample(backends)
        used = {role: end[role] - self.start[role] for role in end}
        used["other"] = used.pop("machine") - used["workers"] - used["simulator"] - used["postgres"]
        return used


async def run(
    url: str, args: argparse.Namespace, workdir: Path
) -> tuple[list[object], dict[str, float]]:
    settings = bench_settings(url)
    port = free_port()
    simulator = start_simulator(port, None, settings.whatsapp_app_secret.get_secret_value())
    sim = Simulator(port)
    workers = []
    starts_files = [workdir / f"starts-{n}.json" for n in range(args.workers)]
    try:
        await healthy(port, "/_sim/health")
        numbers = [f"10654035290{n:04d}" for n in range(args.numbers)]
        for number in numbers:
            await sim.add_number(number, throughput=args.rate)
        await sim.add_template()
        per_number = args.messages // args.numbers
        targets = await seed(settings, numbers, per_number, throughput=args.rate)
        queued_at = time.monotonic()
        ids = await queue_templates_batch(settings, targets)
        print(f"queued {len(ids)} in {time.monotonic() - queued_at:.1f} s", file=sys.stderr)
        env = env_of(
            settings,
            port,
            SCRM_OUTBOUND_BATCH_SIZE=str(args.batch),
            SCRM_OUTBOUND_LATE_TOLERANCE_SECONDS=str(args.late),
        )
        workers = [start_noting_worker(env, path) for path in starts_files]
        meter = CpuMeter([w.pid for w in workers], simulator.pid)
        deadline = time.monotonic() + args.messages / (args.rate * args.numbers) * 4 + 60
        while await sim.received_count() < len(ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        cpu = meter.split(await backend_pids(url))
        received = await sim.received()
        statuses, left = await message_states(settings)
        refused = await sim.refusals()
        unknown = await unknown_reasons(url)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        await sim.aclose()
        simulator.terminate()
        simulator.wait(30)
    duplicates = sum(n - 1 for n in Counter(m["callback_data"] for m in received).values())
    number_of = {message_id: numbers[n // per_number] for n, message_id in enumerate(ids)}
    arrivals: dict[str, list[float]] = defaultdict(list)
    for m in received:
        arrivals[m["phone_number_id"]].append(m["received_at"])
    starts: dict[str, list[float]] = defaultdict(list)
    started_at: dict[str, float] = {}
    for path in starts_files:
        for callback, started in json.loads(path.read_text()):
            starts[number_of[callback]].append(started)
            started_at[callback] = started
    transit = sorted(
        m["received_at"] - started_at[m["callback_data"]]
        for m in received
        if m["callback_data"] in started_at
    )
    if transit:
        p50, p99 = percentile(transit, 0.5), percentile(transit, 0.99)
        print(
            f"start → arrival at the simulator: p50 {p50:.3f} s, p99 {p99:.3f} s, "
            f"max {transit[-1]:.3f} s",
            file=sys.stderr,
        )
    times = sorted(m["received_at"] for m in received)
    # steady state: leave out the first and last second (start-up and the tail)
    steady = [t for t in times if times[0] + 1 <= t < times[-1] - 1]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    target = args.rate * args.numbers
    start_fixed, start_sliding = per_number_peaks(starts)
    arrival_fixed, arrival_sliding = per_number_peaks(arrivals)
    row: list[object] = [
        len(ids),
        len(received),
        f"{rate:.0f}",
        f"{target}",
        f"{rate / target:.3f}",
        duplicates,
        f"{start_fixed} / {start_sliding}",
        f"{arrival_fixed} / {arrival_sliding}",
        refused.get("130429", 0),
        left,
        dict(statuses),
    ]
    if unknown:
        print(f"unknown, by reason: {unknown}", file=sys.stderr)
    return row, {"sends": float(len(received)), "span": times[-1] - times[0], **cpu}


def cpu_table(cpu: dict[str, float]) -> str:
    sends, span = cpu.pop("sends"), cpu.pop("span")
    total = sum(cpu.values())
    rows: list[list[object]] = [
        [role, f"{seconds:.1f}", f"{seconds / max(span, 1e-9):.2f}",
         f"{seconds / max(sends, 1) * 1000:.2f}", f"{seconds / total:.0%}"]
        for role, seconds in cpu.items()
    ]  # fmt: skip
    headers = ["role", "CPU s", "cores busy", "CPU ms per send", "share"]
    return f"CPU while sending ({span:.1f} s from first to last send):\n\n" + table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=80, help="msg/s per number")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200, help="SCRM_OUTBOUND_BATCH_SIZE")
    parser.add_argument(
        "--late", type=float, default=0.025, help="SCRM_OUTBOUND_LATE_TOLERANCE_SECONDS"
    )
    parser.add_argument("--noting-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noting_worker:
        work_noting_starts(args.noting_worker)
        return
    with tempfile.TemporaryDirectory() as tmp, database("postgres", Path(tmp)) as url:
        row, cpu = asyncio.run(run(url, args, Path(tmp)))
    print(
        f"outbound: {args.messages} template sends, {args.numbers} numbers × {args.rate} msg/s, "
        f"{args.workers} sender-worker processes, late tolerance {args.late} s, PostgreSQL — "
        f"{machine()}, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}\n"
    )
    headers = ["queued", "at simulator", "achieved msg/s", "target msg/s", "ratio",
               "duplicates", "max/s one number at worker (fixed / sliding)",
               "max/s one number at simulator (fixed / sliding)", "130429 refusals",
               "left in queue", "statuses"]  # fmt: skip
    print(table(headers, [row]))
    print()
    print(cpu_table(cpu))


if __name__ == "__main__":
    main()
