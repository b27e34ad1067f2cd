"""The send queue against the in-process simulator: answers at once, sends once, keeps
ambiguous outcomes ``unknown`` until a status webhook tells, waits on shared limits."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from runtime.clock import utc_now
from runtime.models import Event, Message, RecipientBudget, Sender, SendQueueItem
from runtime.outbound import limits, queue_rows
from tests.api.test_inbox import CUSTOMER, _conversations, _messages, _setup
from tests.api.whatsapp_world import WhatsAppWorld
from tests.conftest import make_settings
from tests.support import wait_for


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[WhatsAppWorld]:
    """Short timeouts, a pair burst of 2, no automatic delivered/read statuses, and sends
    that may go up to 2 s past their slot (a loaded test machine stalls the worker; these
    tests are about the limits, not about stalls)."""
    settings = make_settings(
        database_url,
        outbound_late_tolerance_seconds=2.0,
        outbound_send_timeout_seconds=0.5,
        outbound_unconfirmed_after_seconds=1.0,
        outbound_pair_burst=2,
        outbound_poll_seconds=0.05,
    )
    harness = WhatsAppWorld(settings, auto_statuses=())
    try:
        yield harness
    finally:
        await harness.close()


async def _open_conversation(world: WhatsAppWorld) -> tuple[dict[str, str], dict[str, Any]]:
    ctx, _, _, sender = await _setup(world)
    await world.customer_says(sender, CUSTOMER, "hi")
    [conversation] = await wait_for(lambda: _conversations(world, ctx.headers))
    return ctx.headers, conversation


async def _send(
    world: WhatsAppWorld, headers: dict[str, str], conversation: dict[str, Any], text: str
) -> dict[str, Any]:
    response = await world.client.post(
        f"/api/conversations/{conversation['id']}/messages",
        headers=headers,
        json={"type": "text", "text": text},
    )
    assert response.status_code == 202, response.text
    queued: dict[str, Any] = response.json()
    assert queued["status"] == "queued" and queued["wamid"] is None
    return queued


async def _message(
    world: WhatsAppWorld, headers: dict[str, str], conversation: dict[str, Any], message_id: str
) -> dict[str, Any]:
    return next(
        m for m in await _messages(world, headers, conversation["id"]) if m["id"] == message_id
    )


async def _received(world: WhatsAppWorld, message_id: str) -> list[dict[str, Any]]:
    """What the simulated Meta accepted for one of our messages (by callback data)."""
    data = (await world.sim.get("/_sim/messages")).json()["data"]
    return [m for m in data if m["callback_data"] == message_id]


async def _created_event(world: WhatsAppWorld, message_id: str) -> dict[str, Any]:
    """The ``message.created`` event's message, as the outbox stored it."""
    async with world.app.state.sessionmaker() as session:
        payloads = await session.scalars(
            select(Event.payload)
            .where(Event.type == "message.created")
            .order_by(Event.id.desc())
            .limit(200)
        )
        [message] = [p["message"] for p in payloads if p["message"]["id"] == message_id]
    return dict(message)


def _pause_ingest(world: WhatsAppWorld) -> None:
    world.app.state.ingest.writer.on_commit = lambda: None


async def _resume_ingest(world: WhatsAppWorld) -> None:
    ingest = world.app.state.ingest
    ingest.writer.on_commit = ingest.processor.wake
    ingest.processor.wake()
    await world.ingested()


async def _status_is(
    world: WhatsAppWorld,
    headers: dict[str, str],
    conversation: dict[str, Any],
    message_id: str,
    status: str,
) -> dict[str, Any] | None:
    message = await _message(world, headers, conversation, message_id)
    return message if message["status"] == status else None


async def test_send_answers_queued_then_meta_gets_it_once(world: WhatsAppWorld) -> None:
    headers, conversation = await _open_conversation(world)
    queued = await _send(world, headers, conversation, "on its way")
    assert queued["queue"]["reason"] is None  # nothing to wait for
    await world.sent()
    [at_meta] = await _received(world, queued["id"])
    handed = await _message(world, headers, conversation, queued["id"])
    assert handed["wamid"] == at_meta["id"]
    sent = await wait_for(lambda: _status_is(world, headers, conversation, queued["id"], "sent"))
    assert sent["queue"] is None


async def test_ambiguous_timeout_is_unknown_until_the_status_webhook(
    world: WhatsAppWorld,
) -> None:
    headers, conversation = await _open_conversation(world)
    _pause_ingest(world)  # Meta's "sent" status is held back until we look
    await world.fail_next(conversation["sender_id"], kind="accepted_timeout", delay=2.0)
    queued = await _send(world, headers, conversation, "did it go?")
    unknown = await wait_for(
        lambda: _status_is(world, headers, conversation, queued["id"], "unknown")
    )
    assert unknown["wamid"] is None and "may have been sent" in unknown["error_message"]
    [at_meta] = await _received(world, queued["id"])  # Meta did accept it, once

    await _resume_ingest(world)
    resolved = await _message(world, headers, conversation, queued["id"])
    assert (resolved["status"], resolved["wamid"]) == ("sent", at_meta["id"])
    assert len(await _received(world, queued["id"])) == 1  # never sent again by itself


async def test_bare_5xx_is_unknown_and_a_refusal_keeps_metas_code(world: WhatsAppWorld) -> None:
    headers, conversation = await _open_conversation(world)
    await world.fail_next(conversation["sender_id"], kind="server_error", http_status=502)
    gateway = await _send(world, headers, conversation, "through a gateway")
    await wait_for(lambda: _status_is(world, headers, conversation, gateway["id"], "unknown"))

    await world.fail_next(conversation["sender_id"], code=131048)
    refused = await _send(world, headers, conversation, "spam?")
    failed = await wait_for(
        lambda: _status_is(world, headers, conversation, refused["id"], "failed")
    )
    assert failed["error_code"] == 131048
    assert failed["error_message"].startswith("Message failed to send because there are")
    assert "restricted this number" in failed["error_advice"]
    assert await _received(world, refused["id"]) == []


async def test_a_fault_injected_for_one_number_is_not_taken_by_another_numbers_send(
    world: WhatsAppWorld,
) -> None:
    """The worker claims every due send in the (shared) database, e.g. one an earlier test
    left queued; that send reaches the simulator first but must not take this test's fault."""
    headers, mine = await _open_conversation(world)
    other_headers, others = await _open_conversation(world)  # another tenant and number
    await world.fail_next(mine["sender_id"], code=131048)
    foreign = await _send(world, other_headers, others, "left in the queue")
    await world.sent()
    assert len(await _received(world, foreign["id"])) == 1
    assert (await _message(world, other_headers, others, foreign["id"]))["error_code"] is None

    own = await _send(world, headers, mine, "meets the fault")
    failed = await wait_for(lambda: _status_is(world, headers, mine, own["id"], "failed"))
    assert failed["error_code"] == 131048


async def test_unconfirmed_unknown_can_be_resent_deliberately(world: WhatsAppWorld) -> None:
    headers, conversation = await _open_conversation(world)
    _pause_ingest(world)  # no status webhook will resolve it
    await world.fail_next(conversation["sender_id"], kind="accepted_timeout", delay=2.0)
    original = await _send(world, headers, conversation, "important")
    unknown = await wait_for(
        lambda: _status_is(world, headers, conversation, original["id"], "unknown")
    )
    assert unknown["not_confirmed"] is False

    async def not_confirmed() -> bool:
        return bool((await _message(world, headers, conversation, original["id"]))["not_confirmed"])

    await wait_for(not_confirmed, within=10.0)
    url = f"/api/conversations/{conversation['id']}/messages"
    resent = await world.client.post(f"{url}/{original['id']}/resend", headers=headers)
    assert resent.status_code == 202, resent.text
    again = resent.json()
    assert again["id"] != original["id"] and again["resend_of_id"] == original["id"]
    assert (await _created_event(world, again["id"]))["resend_of_id"] == original["id"]
    assert (again["status"], again["body"]) == ("queued", "important")
    await world.sent()
    assert len(await _received(world, again["id"])) == 1
    assert len(await _received(world, original["id"])) == 1

    twice = await world.client.post(f"{url}/{again['id']}/resend", headers=headers)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "message_not_resendable"


async def test_pair_rate_waits_in_the_queue_with_an_estimate(world: WhatsAppWorld) -> None:
    headers, conversation = await _open_conversation(world)
    sends = [await _send(world, headers, conversation, f"part {i}") for i in range(3)]
    await world.sent()
    assert [len(await _received(world, m["id"])) for m in sends] == [1, 1, 0]  # burst of 2
    waiting = await _message(world, headers, conversation, sends[2]["id"])
    assert waiting["status"] == "queued" and waiting["queue"]["reason"] == "pair_rate"
    not_before = datetime.fromisoformat(waiting["queue"]["not_before"])
    assert not_before > utc_now(world.engine.state.clock)
    # One message per 6 s after the burst: 6 s after the first went (which is at or a little
    # after it was stored; how little depends on the machine's load, hence the upper slack).
    after_first = (not_before - datetime.fromisoformat(sends[0]["created_at"])).total_seconds()
    assert 5.9 <= after_first <= 9.0

    await world.control("clock/advance", {"seconds": 7})
    await world.sent()
    assert len(await _received(world, sends[2]["id"])) == 1


async def test_throughput_refusal_backs_the_number_off(world: WhatsAppWorld) -> None:
    headers, conversation = await _open_conversation(world)
    await world.fail_next(conversation["sender_id"], code=130429, retry_after=30)
    first = await _send(world, headers, conversation, "first")
    await world.sent()
    backed_off = await _message(world, headers, conversation, first["id"])
    assert backed_off["status"] == "queued" and backed_off["queue"]["reason"] == "backoff"
    second = await _send(world, headers, conversation, "second")  # the number waits too

    async def second_backed_off() -> bool:
        queue = (await _message(world, headers, conversation, second["id"]))["queue"]
        return bool(queue and queue["reason"] == "backoff")

    await wait_for(second_backed_off)
    assert await _received(world, first["id"]) == []

    # past Retry-After (30 s), then past the pair's next slots (a refused or late attempt
    # used one of the burst of 2)
    for seconds in (31, 13):
        await world.control("clock/advance", {"seconds": seconds})
        await world.sent()
    assert [len(await _received(world, m["id"])) for m in (first, second)] == [1, 1]


async def test_garbage_is_refused_with_clear_4xx(world: WhatsAppWorld) -> None:
    headers, conversation = await _open_conversation(world)
    url = f"/api/conversations/{conversation['id']}/messages"
    for body in ({"type": "fax"}, {"type": "text"}, {"type": "text", "text": ""}, []):
        response = await world.client.post(url, headers=headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    not_uuid = await world.client.post(f"{url}/not-a-uuid/resend", headers=headers)
    assert not_uuid.status_code == 422
    missing = await world.client.post(f"{url}/{uuid.uuid4()}/resend", headers=headers)
    assert missing.status_code == 404
    [inbound] = await _messages(world, headers, conversation["id"])
    not_ours = await world.client.post(f"{url}/{inbound['id']}/resend", headers=headers)
    assert not_ours.status_code == 404  # only our own outbound messages can be resent


async def test_daily_budget_holds_a_new_recipient_outside_the_window(
    world: WhatsAppWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _, _, sender = await _setup(world)
    # The test database's senders share one WABA: room for exactly one more recipient today.
    since = utc_now(world.engine.state.clock) - limits.BUDGET_WINDOW
    async with world.app.state.sessionmaker() as session:
        used = await session.scalar(
            select(func.count()).where(
                RecipientBudget.portfolio == sender["waba_id"], RecipientBudget.sent_at > since
            )
        )
    monkeypatch.setitem(limits.DAILY_RECIPIENTS, "TIER_250", (used or 0) + 1)
    await world.add_template("welcome", "Welcome!")
    await world.client.post("/api/templates/sync", headers=ctx.headers)
    queued = []
    for phone in ("+6281234567011", "+6281234567012"):
        contact = await world.client.post(
            "/api/contacts", headers=ctx.headers, json={"phone": phone}
        )
        started = await world.client.post(
            "/api/conversations",
            headers=ctx.headers,
            json={"contact_id": contact.json()["id"], "sender_id": sender["id"]},
        )
        conversation = started.json()
        template = {"name": "welcome", "language": "en_US", "parameters": {"body": []}}
        sent = await world.client.post(
            f"/api/conversations/{conversation['id']}/messages",
            headers=ctx.headers,
            json={"type": "template", "template": template},
        )
        assert sent.status_code == 202, sent.text
        queued.append((conversation, sent.json()))
        await world.sent()
    assert [len(await _received(world, m["id"])) for _, m in queued] == [1, 0]
    conversation, waiting = queued[1]
    held = await _message(world, ctx.headers, conversation, waiting["id"])
    assert held["queue"]["reason"] == "daily_limit"
    due_in = datetime.fromisoformat(held["queue"]["not_before"]) - utc_now(world.engine.state.clock)
    assert 23 * 3600 < due_in.total_seconds() <= 24 * 3600


CLAIM_SELECT = "SELECT send_queue.message_id, send_queue.sender_id, send_queue.recipient"


def _send_path(sql: str) -> bool:
    """What the send worker reads and writes: the queue, the limits, the wamids it records
    (the app's other tasks, e.g. ingesting the simulator's "sent" webhooks, run meanwhile
    on the same engine)."""
    return "send_queue" in sql or "send_pacing" in sql or sql.endswith("messages.wamid IS NULL")


async def test_a_claim_round_and_its_record_are_set_wise(database_url: str) -> None:
    """30 due sends are claimed, paced and recorded with a bounded number of statements
    (bulk UPDATEs and one DELETE … RETURNING), not a few per row. (Sends may go 2 s late
    here: a stall on a loaded machine would requeue some, which is not what this counts; the
    number runs at 200 msg/s so that 30 slots, spaced for that lateness, fit one round.)"""
    settings = make_settings(database_url, outbound_work=False, outbound_late_tolerance_seconds=2.0)
    world = WhatsAppWorld(settings, auto_statuses=())
    try:
        headers, conversation = await _open_conversation(world)
        async with world.app.state.sessionmaker() as session, session.begin():
            await session.execute(
                update(Sender)
                .where(Sender.id == uuid.UUID(conversation["sender_id"]))
                .values(throughput_mps=200)
            )
        sends = [await _send(world, headers, conversation, f"bulk {i}") for i in range(30)]
        worker = world.app.state.outbound.worker

        async def recorded() -> bool:
            return not worker.busy

        with world.statements() as statements:
            claimed, _ = await worker.claim_round()
            await wait_for(recorded, within=10.0)
        assert claimed == 30
        # Rows other tests left due in the shared database may join the round (one claim
        # SELECT per number with due rows, by design); nothing else may repeat per row.
        kinds = Counter(sql.split("\n")[0] for sql in statements if _send_path(sql))
        per_number = [kind for kind in kinds if kind.startswith(CLAIM_SELECT)]
        assert len(per_number) == 1, kinds
        repeated = {kind: n for kind, n in kinds.items() if n > 3 and kind not in per_number}
        assert repeated == {}, kinds  # one per row would be 30
        for queued in sends:
            [at_meta] = await _received(world, queued["id"])
            handed = await _message(world, headers, conversation, queued["id"])
            assert (handed["wamid"], handed["queue"]) == (at_meta["id"], None)
    finally:
        await world.close()


async def test_queue_estimates_cost_three_statements_for_any_number_of_rows(
    database_url: str,
) -> None:
    """Listing a conversation with queued messages estimates each one's turn set-wise: its
    count of rows ahead, its number's rate and backoff — not three queries per row."""
    world = WhatsAppWorld(make_settings(database_url, outbound_work=False), auto_statuses=())
    try:
        headers, conversation = await _open_conversation(world)
        sends = [await _send(world, headers, conversation, f"in line {i}") for i in range(6)]
        listed = {m["id"]: m for m in await _messages(world, headers, conversation["id"])}
        queues = [listed[m["id"]]["queue"] for m in sends]
        assert [q["reason"] for q in queues] == [None] + ["in_line"] * 5
        times = [datetime.fromisoformat(q["not_before"]) for q in queues]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert all(0.0125 - 0.005 < gap < 0.0125 + 0.005 for gap in gaps), gaps  # 1/80 s

        async with world.app.state.sessionmaker() as session:
            messages = list(
                await session.scalars(
                    select(Message).where(Message.id.in_([uuid.UUID(m["id"]) for m in sends]))
                )
            )
            with world.statements() as statements:
                rows = await queue_rows(session, messages, utc_now(world.engine.state.clock))
        assert len(rows) == 6 and len(statements) == 3, statements
        async with world.app.state.sessionmaker() as session, session.begin():
            # due rows left behind would be claimed by the next test's worker
            await session.execute(delete(SendQueueItem).where(SendQueueItem.message_id.in_(rows)))
    finally:
        await world.close()


async def test_a_send_reached_past_its_tolerance_is_queued_again_not_sent(
    database_url: str,
) -> None:
    """A stalled worker (here: the shared clock jumps 5 s between the claim and the send)
    does not send late, which could put more than the rate into one second: the row goes
    back to the queue, counted as late, and a later round sends it once."""
    settings = make_settings(database_url, outbound_work=False)
    world = WhatsAppWorld(settings, auto_statuses=())
    clock = world.engine.state.clock
    try:
        headers, conversation = await _open_conversation(world)
        queued = await _send(world, headers, conversation, "stalled")
        worker = world.app.state.outbound.worker

        async def recorded() -> bool:
            return not worker.busy

        claimed, _ = await worker.claim_round()
        clock.offset += 5.0
        await wait_for(recorded, within=10.0)
        clock.offset -= 5.0
        assert (claimed, worker.late_sends) == (1, 1)
        assert await _received(world, queued["id"]) == []
        async with world.app.state.sessionmaker() as session:
            row = await session.get(SendQueueItem, uuid.UUID(queued["id"]))
            assert row is not None and (row.state, row.attempt_id) == ("queued", None)

        async def sent_once() -> list[dict[str, Any]]:
            await worker.claim_round()
            return await _received(world, queued["id"])

        [at_meta] = await wait_for(sent_once, within=10.0)
        assert at_meta["callback_data"] == queued["id"]
    finally:
        await world.close()


@pytest.mark.parametrize("late", [0.025, 0.1, 2.0])
@pytest.mark.parametrize("rate", [1, 20, 80, 1000])
def test_slots_spaced_for_lateness_keep_any_second_within_the_rate(rate: int, late: float) -> None:
    """Slots taken back to back from one number's pace, each send starting anywhere from its
    slot to ``late`` after it: no 1-s window of starts (sliding) can hold more than the
    rate — i.e. no window [a, a + 1 + late) holds more than ``rate`` slots."""
    row = limits.PaceRow("n:x", next_at=0.0, backoff_until=0.0)
    pace = limits.Pace(row, limits.number_interval(rate, late))
    slots = []
    for _ in range(3 * rate + 10):
        slots.append(pace.slot(slots[-1] if slots else 100.0))
        pace.take(slots[-1])
    first, most = 0, 0
    for last, slot in enumerate(slots):
        while slots[first] <= slot - (1.0 + late):
            first += 1
        most = max(most, last - first + 1)
    assert most == rate  # the rate is reached, never passed
    assert len(slots) / (slots[-1] - slots[0]) >= rate / (1.0 + late) * 0.99
