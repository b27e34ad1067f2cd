"""Campaigns: a 100,000-recipient campaign over 4 numbers on PostgreSQL.

Measures (1) the launch: draft → running with the audience expanded into one recipient row
per contact by one ``INSERT … SELECT`` (the target: within 5 s), and (2) the feeder: how many
recipients per second one process hands to the send queue (message + queue row + recipient
``queued``, each in its transaction) for ``--feed-seconds``; the send worker is not running,
so this is the feeder alone. The issue's SIGKILL run is tests/api/test_campaign_processes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_settings, database, machine, table  # noqa: E402
from runtime.campaigns import CampaignPipeline  # noqa: E402
from runtime.clock import SystemClock  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from tests.api.campaign_stack import launch, recipient_states, seed_campaign  # noqa: E402


async def run(url: str, args: argparse.Namespace) -> list[object]:
    settings = bench_settings(url, campaign_batch_size=args.batch, outbound_work=False)
    numbers = [f"10654035293{n:04d}" for n in range(args.numbers)]
    seeded_at = time.perf_counter()
    seeded = await seed_campaign(
        settings, numbers, args.recipients, throughput=80, rate_per_minute=args.rate * 60
    )
    seed_seconds = time.perf_counter() - seeded_at
    launch_seconds = await launch(settings, seeded.campaign_id)
    states, status = await recipient_states(settings, seeded.campaign_id)
    assert status == "running" and states["pending"] == args.recipients, (status, states)

    engine = make_engine(url)
    feeder = CampaignPipeline(make_sessionmaker(engine), settings, SystemClock(), lambda: None)
    fed, started = 0, time.perf_counter()
    try:
        while time.perf_counter() - started < args.feed_seconds:
            fed += await feeder.feed_round()
    finally:
        await engine.dispose()
    feed_seconds = time.perf_counter() - started
    return [
        args.recipients,
        args.numbers,
        f"{seed_seconds:.1f}",
        f"{launch_seconds:.2f}",
        f"{launch_seconds / 5.0:.2f}",
        fed,
        f"{fed / feed_seconds:.0f}",
        f"{args.rate}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=320, help="the campaign's cap, msg/s")
    parser.add_argument("--batch", type=int, default=100, help="SCRM_CAMPAIGN_BATCH_SIZE")
    parser.add_argument("--feed-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database("postgres", Path(tmp)) as url:
        row = asyncio.run(run(url, args))
    print(
        f"campaign: {args.recipients} recipients over {args.numbers} numbers, PostgreSQL"
        f" — {machine()}\n"
    )
    headers = ["recipients", "numbers", "seed s", "launch s (expand)", "launch / 5 s target",
               "fed in run", "fed/s (feeder alone)", "rate cap/s"]  # fmt: skip
    print(table(headers, [row]))


if __name__ == "__main__":
    main()
