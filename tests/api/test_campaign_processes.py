"""A campaign across real processes on PostgreSQL: the api that feeds it is SIGKILLed mid-run
and restarted; every recipient is reached exactly once (or, if it was mid-send at the kill,
left ``unknown`` for a person to decide — never sent twice, never silently dropped)."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator

import pytest

from runtime.settings import Settings
from tests.api.campaign_stack import launch, recipient_states, seed_campaign
from tests.api.outbound_stack import env_of, free_port, healthy, message_states, start_api
from tests.api.test_outbound_processes import _simulator, _stop
from tests.conftest import make_settings
from tests.services import require_postgres
from tests.support import postgres_database, wait_for

NUMBERS = [f"1065403529100{n:02d}" for n in range(4)]
RECIPIENTS = 400  # the bench does 100,000; a test must finish on a loaded machine
STARTUP = 120.0  # seconds an api process may take to answer (imports alone took 33 s on the
# shared machine at load 15)


@pytest.fixture
def settings() -> Iterator[Settings]:
    with postgres_database(require_postgres(), "scrm_campaigns") as url:
        yield make_settings(url)


async def test_api_killed_mid_campaign_sends_each_recipient_once(settings: Settings) -> None:
    api_port = free_port()
    async with _simulator(api_port, settings) as sim:
        for number in NUMBERS:
            await sim.add_number(number, throughput=80)
        await sim.add_template()
        seeded = await seed_campaign(
            settings, NUMBERS, RECIPIENTS, throughput=80, rate_per_minute=12_000
        )
        await launch(settings, seeded)  # its time is the bench's (bench/campaign.py), not a test's
        states, status = await recipient_states(settings, seeded.campaign_id)
        assert (states["pending"], status) == (RECIPIENTS, "running")

        env = env_of(
            settings,
            sim.port,  # type: ignore[attr-defined]
            SCRM_OUTBOUND_POLL_SECONDS="0.1",
            SCRM_OUTBOUND_SENDING_LEASE_SECONDS="2",
            SCRM_OUTBOUND_SEND_TIMEOUT_SECONDS="1",
            SCRM_CAMPAIGN_POLL_SECONDS="0.2",
        )
        api = start_api(env, api_port)
        try:
            await healthy(api_port, within=STARTUP)

            async def some_sent() -> bool:
                return len(await sim.received()) >= RECIPIENTS // 5

            await wait_for(some_sent, within=120.0, interval=0.05)
            _stop(api, signal.SIGKILL)
            before_restart = len(await sim.received())
            assert before_restart < RECIPIENTS, "killed too late to prove anything"
            api = start_api(env, api_port)
            await healthy(api_port, within=STARTUP)

            async def finished() -> bool:
                states, status = await recipient_states(settings, seeded.campaign_id)
                return status == "completed" and (await message_states(settings))[1] == 0

            await wait_for(finished, within=300.0, interval=0.5)
        finally:
            _stop(api)

        per_phone = Counter(m["to"] for m in await sim.received())
        assert max(per_phone.values()) == 1  # nobody got it twice
        assert set(per_phone) <= {p.lstrip("+") for p in seeded.phones}
        states, _ = await recipient_states(settings, seeded.campaign_id)
        assert states == Counter({"queued": RECIPIENTS})  # every recipient handed on once
        statuses, _ = await message_states(settings)
        assert sum(statuses.values()) == RECIPIENTS and statuses["failed"] == 0
        assert (await sim.refusals()).get("130429", 0) == 0  # within the numbers' limits
        # whoever Meta never got was mid-send at the kill: "unknown" (so are sends Meta got
        # whose answer the kill lost: this simulator sends no status webhook to settle them).
        # No upper bound here: on a loaded machine sends also outlive the 1 s send timeout
        # before the kill, and those are rightly "unknown" too (183 of 400 seen at load 9).
        assert RECIPIENTS - len(per_phone) <= statuses["unknown"]
