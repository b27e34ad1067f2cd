"""Campaigns: a 100,000-recipient campaign over 4 numbers on PostgreSQL.

Measures (1) the launch (the target: queued within 5 s): the whole of what an admin waits for,
``POST /api/campaigns/{id}/launch`` from request to answer (login beforehand; the permission,
the setup checks, draft → running with the audience expanded into one recipient row per
contact by one ``INSERT … SELECT``, the audit row, the commit, the answer with the totals),
through the app in this process (``httpx.ASGITransport``: no socket, no uvicorn); beside it
the expansion alone (``start_if_due``, what earlier runs timed) on ``campaign_recipients`` as
migration 0008 made it (5 foreign keys, 6 full indexes; the database is downgraded for it;
the endpoint cannot run on that schema) and as 0012 makes it (2 foreign keys, partial
indexes), each on its own copy of the campaign; and (2) the feeder: how many
recipients per second one process hands to the send queue (message + queue row + recipient
``queued``) — the round as the feeder runs it (``runtime.outbound.submit_batch``, set-wise)
side by side with the same recipients handed on one at a time through ``submit`` (what the
feeder did before), in one run, as a ratio. The campaign's rate cap is lifted for (2) so
the feeder's own capacity shows; "CPU ms / recipient" is this process's CPU (the database's
is not counted), and "CPU share at 320/s" what the issue's rate (4 numbers × 80 msg/s)
would take of one core. The send worker is not running. The issue's SIGKILL run is
tests/api/test_campaign_processes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from alembic import command
from sqlalchemy import delete, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_settings, database, machine, table  # noqa: E402
from runtime.campaigns import CampaignPipeline  # noqa: E402
from runtime.campaigns.launcher import start_if_due  # noqa: E402
from runtime.campaigns.sending import queue_message  # noqa: E402
from runtime.clock import SystemClock, utc_now  # noqa: E402
from runtime.db.migrate import alembic_config, upgrade  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain.campaigns import transition  # noqa: E402
from runtime.models import Campaign, CampaignRecipient, Contact, Sender  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from tests.api.campaign_stack import (  # noqa: E402
    Seeded,
    launch,
    recipient_states,
    seed_campaign,
)

CONFIGURED_RATE = 320  # msg/s: 4 numbers × 80


async def one_by_one_round(settings: Settings, campaign_id: object, batch: int) -> int:
    """The feeder's old round: each due recipient through ``submit`` in its own savepoint."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            assert campaign is not None
            senders = {s.id: s for s in await session.scalars(select(Sender))}
            rows = await session.execute(
                select(CampaignRecipient, Contact)
                .join(Contact, Contact.id == CampaignRecipient.contact_id)
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.state == "pending",
                )
                .order_by(CampaignRecipient.contact_id)
                .limit(batch)
                .with_for_update(of=CampaignRecipient, skip_locked=True)
            )
            due = [(recipient, contact) for recipient, contact in rows]
            now = utc_now(SystemClock())
            for recipient, contact in due:
                assert recipient.sender_id is not None
                async with session.begin_nested():
                    message, _ = await queue_message(
                        session, settings, campaign, contact, senders[recipient.sender_id], now
                    )
                recipient.state, recipient.message_id = "queued", message.id
                recipient.queued_at = now
            await session.commit()
            return len(due)
    finally:
        await engine.dispose()


async def twin(settings: Settings, seeded: Seeded, name: str) -> Seeded:
    """Another draft like ``seeded``'s (same audience, numbers, template)."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            original = await session.get(Campaign, seeded.campaign_id)
            assert original is not None
            columns = {c.key: getattr(original, c.key) for c in Campaign.__mapper__.column_attrs}
            fresh = {"id": uuid.uuid4(), "name": name, "status": "draft", "expanded_at": None}
            copy = Campaign(**{**columns, **fresh})
            session.add(copy)
            await session.commit()
            return dataclasses.replace(seeded, campaign_id=copy.id)
    finally:
        await engine.dispose()


async def expand_only(settings: Settings, campaign_id: uuid.UUID) -> float:
    """Seconds of the launch's transaction alone (the campaign row locked, draft → running,
    the audience expanded, commit): no request, no permission or setup check, no answer."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            assert campaign is not None
            transition(campaign, "launch")
            await start_if_due(session, campaign, utc_now(SystemClock()))
            await session.commit()
            return time.perf_counter() - started
    finally:
        await engine.dispose()


async def expand_on_0008(settings: Settings, campaign_id: uuid.UUID) -> float:
    """:func:`expand_only` with the database downgraded to migration 0008 (then upgraded
    back, the rows removed)."""
    url = settings.database_url
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
    try:
        return await expand_only(settings, campaign_id)
    finally:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                gone = delete(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
                await session.execute(gone)
                await session.delete(await session.get(Campaign, campaign_id))
                await session.commit()
        finally:
            await engine.dispose()
        await asyncio.to_thread(upgrade, url)


async def timed(seconds: float, round_: Callable[[], Awaitable[int]]) -> tuple[int, float, float]:
    """Rounds for ``seconds``: (recipients fed, wall seconds, CPU seconds of this process)."""
    fed, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        fed += await round_()
    return fed, time.perf_counter() - started, time.process_time() - cpu


async def run(url: str, args: argparse.Namespace) -> tuple[list[list[object]], list[list[object]]]:
    settings = bench_settings(url, campaign_batch_size=args.batch, outbound_work=False)
    numbers = [f"10654035293{n:04d}" for n in range(args.numbers)]
    seeded_at = time.perf_counter()
    seeded = await seed_campaign(
        settings, numbers, args.recipients, throughput=80, rate_per_minute=10**8
    )
    seed_seconds = time.perf_counter() - seeded_at
    before = await expand_on_0008(settings, (await twin(settings, seeded, "0008")).campaign_id)
    launch_seconds = await launch(settings, seeded)
    states, status = await recipient_states(settings, seeded.campaign_id)
    assert status == "running" and states["pending"] == args.recipients, (status, states)
    expand_seconds = await expand_only(settings, (await twin(settings, seeded, "0012")).campaign_id)
    launched: list[list[object]] = [
        ["0008: 5 foreign keys, 6 indexes", "expansion alone", f"{seed_seconds:.1f}",
         f"{before:.2f}", f"{before / 5.0:.2f}"],
        ["0012: 2 foreign keys, partial indexes", "expansion alone", "",
         f"{expand_seconds:.2f}", f"{expand_seconds / 5.0:.2f}"],
        ["0012: 2 foreign keys, partial indexes", "POST …/launch (whole)", "",
         f"{launch_seconds:.2f}", f"{launch_seconds / 5.0:.2f}"],
        ["ratio expansion 0012 / 0008", "", "", f"{expand_seconds / before:.2f}x", ""],
        ["ratio POST …/launch / expansion (0012)", "", "",
         f"{launch_seconds / expand_seconds:.2f}x", ""],
    ]  # fmt: skip

    engine = make_engine(url)
    feeder = CampaignPipeline(make_sessionmaker(engine), settings, SystemClock(), lambda: None)
    try:
        batched = await timed(args.feed_seconds, feeder.feed_round)
    finally:
        await engine.dispose()
    single = await timed(
        args.feed_seconds,
        lambda: one_by_one_round(settings, seeded.campaign_id, args.baseline_batch),
    )
    rows = []
    for name, (fed, wall, cpu) in (
        (f"submit_batch, rounds of {args.batch} (now)", batched),
        (f"submit one by one, rounds of {args.baseline_batch} (before)", single),
    ):
        rows.append([name, fed, f"{fed / wall:.0f}", f"{1000 * cpu / fed:.2f}",
                     f"{CONFIGURED_RATE * cpu / fed:.0%}"])  # fmt: skip
    ratio = (batched[0] / batched[1]) / (single[0] / single[1])
    rows.append(["ratio batch / one by one", "", f"{ratio:.1f}x", "", ""])
    return launched, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="SCRM_CAMPAIGN_BATCH_SIZE")
    parser.add_argument("--baseline-batch", type=int, default=100, help="the old default")
    parser.add_argument("--feed-seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database("postgres", Path(tmp)) as url:
        launched, rows = asyncio.run(run(url, args))
    print(
        f"campaign: {args.recipients} recipients over {args.numbers} numbers, PostgreSQL"
        f" — {machine()}\n"
    )
    schema = ["campaign_recipients schema", "timed", "seed s", "launch s", "launch / 5 s target"]
    print(table(schema, launched))
    print()
    headers = ["feeder", "fed", "fed/s", "CPU ms / recipient",
               f"CPU share at {CONFIGURED_RATE}/s"]  # fmt: skip
    print(table(headers, rows))


if __name__ == "__main__":
    main()
