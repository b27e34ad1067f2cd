"""Outbound: template sends through the send queue, worked by N ``scrm sender-worker``
processes, to the simulator (a subprocess) on PostgreSQL.

Measures the achieved send rate at the simulator against the sum of the numbers' rates,
duplicates (per ``biz_opaque_callback_data``), the highest count of sends any number had in
one second of the simulator's clock, and the simulator's rate-limit refusals (130429); then
where the CPU went while sending (the workers, the simulator, the PostgreSQL backends
serving the workers, everything else on the machine), from /proc (Linux, a local
PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench.common import bench_settings, database, machine, table  # noqa: E402
from runtime.db.session import make_engine  # noqa: E402
from tests.api.outbound_stack import (  # noqa: E402
    Simulator,
    env_of,
    free_port,
    healthy,
    message_states,
    per_second,
    queue_templates,
    seed,
    start_sender_worker,
    start_simulator,
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


class CpuMeter:
    """CPU seconds per role from the start of sending to the last send."""

    def __init__(self, workers: list[int], simulator: int) -> None:
        self.workers, self.simulator = workers, simulator
        self.start = self._sample([])

    def _sample(self, backends: list[int]) -> dict[str, float]:
        return {
            "workers": sum(cpu_seconds(pid) for pid in self.workers),
            "simulator": cpu_seconds(self.simulator),
            "postgres": sum(cpu_seconds(pid) for pid in backends if Path(f"/proc/{pid}").exists()),
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


async def run(url: str, args: argparse.Namespace) -> tuple[list[object], dict[str, float]]:
    settings = bench_settings(url)
    port = free_port()
    simulator = start_simulator(port, None, settings.whatsapp_app_secret.get_secret_value())
    sim = Simulator(port)
    workers = []
    try:
        await healthy(port, "/_sim/health")
        numbers = [f"10654035290{n:04d}" for n in range(args.numbers)]
        for number in numbers:
            await sim.add_number(number, throughput=args.rate)
        await sim.add_template()
        per_number = args.messages // args.numbers
        targets = await seed(settings, numbers, per_number, throughput=args.rate)
        queued_at = time.monotonic()
        ids = await queue_templates(settings, targets, per_target=1)
        print(f"queued {len(ids)} in {time.monotonic() - queued_at:.1f} s", file=sys.stderr)
        env = env_of(settings, port, SCRM_OUTBOUND_BATCH_SIZE=str(args.batch))
        workers = [start_sender_worker(env) for _ in range(args.workers)]
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
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        await sim.aclose()
        simulator.terminate()
        simulator.wait(30)
    duplicates = sum(n - 1 for n in Counter(m["callback_data"] for m in received).values())
    times = sorted(m["received_at"] for m in received)
    # steady state: leave out the first and last second (start-up and the tail)
    steady = [t for t in times if times[0] + 1 <= t < times[-1] - 1]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    target = args.rate * args.numbers
    row: list[object] = [
        len(ids),
        len(received),
        f"{rate:.0f}",
        f"{target}",
        f"{rate / target:.3f}",
        duplicates,
        max(per_second(received).values(), default=0),
        refused.get("130429", 0),
        left,
        dict(statuses),
    ]
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database("postgres", Path(tmp)) as url:
        row, cpu = asyncio.run(run(url, args))
    print(
        f"outbound: {args.messages} template sends, {args.numbers} numbers × {args.rate} msg/s, "
        f"{args.workers} sender-worker processes, PostgreSQL — {machine()}\n"
    )
    headers = ["queued", "at simulator", "achieved msg/s", "target msg/s", "ratio",
               "duplicates", "max/s one number", "130429 refusals", "left in queue",
               "statuses"]  # fmt: skip
    print(table(headers, [row]))
    print()
    print(cpu_table(cpu))


if __name__ == "__main__":
    main()
