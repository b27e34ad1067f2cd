"""Outbound: template sends through the send queue, worked by N ``scrm sender-worker``
processes, to the simulator (a subprocess) on PostgreSQL.

Measures the achieved send rate at the simulator against the sum of the numbers' rates,
duplicates (per ``biz_opaque_callback_data``), the highest count of sends any number had in
one second of the simulator's clock, and the simulator's rate-limit refusals (130429)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_settings, database, machine, table  # noqa: E402
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


async def run(url: str, args: argparse.Namespace) -> list[object]:
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
        deadline = time.monotonic() + args.messages / (args.rate * args.numbers) * 4 + 60
        while len(received := await sim.received()) < len(ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
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
    return [
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=80, help="msg/s per number")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200, help="SCRM_OUTBOUND_BATCH_SIZE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database("postgres", Path(tmp)) as url:
        row = asyncio.run(run(url, args))
    print(
        f"outbound: {args.messages} template sends, {args.numbers} numbers × {args.rate} msg/s, "
        f"{args.workers} sender-worker processes, PostgreSQL — {machine()}\n"
    )
    headers = ["queued", "at simulator", "achieved msg/s", "target msg/s", "ratio",
               "duplicates", "max/s one number", "130429 refusals", "left in queue",
               "statuses"]  # fmt: skip
    print(table(headers, [row]))


if __name__ == "__main__":
    main()
