"""The outbox relay never stalls on a poison event: it is dead-lettered and the rest flows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.bus import Bus, BusEvent, BusUnavailable
from runtime.bus.codec import Batch
from runtime.bus.inprocess import InProcessBus
from runtime.bus.rabbitmq import RabbitBus
from runtime.domain.events import record_event
from runtime.models import DeadLetter, Event, Tenant
from runtime.relay import DEAD_LETTERS, OutboxRelay
from tests.realtime.conftest import TenantWorld
from tests.services import require_rabbitmq
from tests.support import wait_for


def nested(depth: int) -> dict[str, Any]:
    """A JSON object ``depth`` levels deep: storable, but past the bus encoder's limit."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@contextlib.asynccontextmanager
async def started_bus(kind: str) -> AsyncIterator[Bus]:
    bus: Bus
    if kind == "inprocess":
        bus = InProcessBus("fanout")
    else:
        name = f"scrm-relay-{secrets.token_hex(3)}"
        bus = RabbitBus(require_rabbitmq()[0], "fanout", connection_name=name)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def _emit(world: TenantWorld, payload: dict[str, Any]) -> int:
    async with world.sessionmaker() as session, session.begin():
        event = await record_event(session, world.id, "test.event", payload, ["all"])
    return event.seq


async def _dead_letters(
    sessionmaker: async_sessionmaker[AsyncSession], world: TenantWorld
) -> list[DeadLetter]:
    async with sessionmaker() as session:
        rows = await session.execute(select(DeadLetter).where(DeadLetter.tenant_id == world.id))
        return list(rows.scalars())


@pytest.mark.parametrize("bus_kind", ["inprocess", "rabbitmq"])
async def test_poison_event_is_dead_lettered_and_relay_goes_on(
    bus_kind: str, world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    received: list[tuple[int, dict[str, Any]]] = []

    def on_batch(_tenant: str, batch: Batch) -> None:
        received.extend(
            (seq, json.loads(batch.frame(i))) for i, (seq, _) in enumerate(batch.entries)
        )

    set_aside_before = DEAD_LETTERS.labels("encode")._value.get()
    async with started_bus(bus_kind) as bus:
        subscription = await bus.subscribe(world.slug, f"pod-{secrets.token_hex(3)}", on_batch)
        await subscription.bind(["all"])
        poison = await _emit(world, {"deep": nested(300)})
        good = await _emit(world, {"ok": True})
        async with OutboxRelay(sessionmaker, bus, poll_interval=0.05).running():

            async def good_arrived_and_poison_set_aside() -> bool:
                delivered = any(seq == good for seq, _ in received)
                return delivered and bool(await _dead_letters(sessionmaker, world))

            await wait_for(good_arrived_and_poison_set_aside, within=10)
        await subscription.close()

    assert [frame["payload"] for seq, frame in received if seq == good] == [{"ok": True}]
    assert all(seq != poison for seq, _ in received)
    [letter] = await _dead_letters(sessionmaker, world)
    assert (letter.seq, letter.type, letter.attempts) == (poison, "test.event", 1)
    assert "Recursion" in letter.error  # orjson: "Recursion limit reached"
    assert DEAD_LETTERS.labels("encode")._value.get() == set_aside_before + 1
    async with sessionmaker() as session:
        published = await session.scalar(
            select(Event.published_at).where(Event.tenant_id == world.id, Event.seq == poison)
        )
    assert published is not None  # marked, so the relay goes on


class RefusingBus(InProcessBus):
    """Refuses every batch holding one given event, as a broker would a message too big."""

    refuse_seq = -1

    async def publish(self, tenant: str, events: Any) -> None:
        if any(e.seq == self.refuse_seq for e in events):
            raise RuntimeError("broker refused the message")
        await super().publish(tenant, events)


async def test_undeliverable_event_is_retried_alone_then_dead_lettered(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bus = RefusingBus("fanout")
    received: list[int] = []
    subscription = await bus.subscribe(
        world.slug, "pod", lambda _t, batch: received.extend(s for s, _ in batch.entries)
    )
    await subscription.bind(["all"])
    relay = OutboxRelay(sessionmaker, bus, max_attempts=3)
    bus.refuse_seq = await _emit(world, {"n": 0})
    for round_ in range(1, 4):
        good = await _emit(world, {"n": round_})
        await relay.publish_pending()
        assert good in received  # the others go on while the culprit is retried
        letters = await _dead_letters(sessionmaker, world)
        assert len(letters) == (1 if round_ == 3 else 0)
    assert letters[0].seq == bus.refuse_seq and letters[0].attempts == 3
    assert "broker refused" in letters[0].error
    assert bus.refuse_seq not in received
    assert await relay.publish_pending() == 0  # nothing left behind
    # A bus that refuses everything is an outage: nothing is counted or set aside.
    bus.refuse_seq = await _emit(world, {"n": "alone"})
    with pytest.raises(RuntimeError):
        await relay.publish_pending()
    async with sessionmaker() as session:
        attempts = await session.scalar(
            select(Event.publish_attempts).where(
                Event.tenant_id == world.id, Event.seq == bus.refuse_seq
            )
        )
    assert attempts == 0


class HeldBus(InProcessBus):
    """Holds every publish until ``release`` is set: a broker slow to confirm."""

    def __init__(self) -> None:
        super().__init__("fanout")
        self.publishing = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, tenant: str, events: Any) -> None:
        self.publishing.set()
        await self.release.wait()
        await super().publish(tenant, events)


async def test_relays_take_turns_so_a_later_batch_never_overtakes(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Two relays (two api processes) with a backlog, e.g. after a broker restart: while
    one publishes a batch, the other publishes nothing. Had it claimed the next batch (SKIP
    LOCKED), that batch would reach the pods first, and a client that saw its higher ``seq``
    would drop the earlier events as already seen: lost to it (found by
    bench/ingest_reliability.py)."""
    while await OutboxRelay(sessionmaker, InProcessBus()).publish_pending():
        pass  # other tests' leftovers: the backlog below is ours alone
    seqs = [await _emit(world, {"n": n}) for n in range(6)]
    received: list[int] = []
    slow, fast = HeldBus(), InProcessBus("fanout")
    for bus in (slow, fast):
        subscription = await bus.subscribe(
            world.slug, "pod", lambda _t, batch: received.extend(s for s, _ in batch.entries)
        )
        await subscription.bind(["all"])
    holder = asyncio.create_task(OutboxRelay(sessionmaker, slow, batch_size=3).publish_pending())
    await asyncio.wait_for(slow.publishing.wait(), 10)
    other = OutboxRelay(sessionmaker, fast, batch_size=3)
    assert await other.publish_pending() == 0  # the lease is held: nothing overtakes
    slow.release.set()
    assert await holder == 3
    while await other.publish_pending():
        pass
    assert received == seqs


async def test_lone_commits_are_published_without_lingering(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Under light load (each round woken by one commit) nobody would share the round, so
    the relay starts it at once instead of lingering (here 30 s, past the deadlines)."""
    bus, received = await _subscribed_after_leftovers(world, sessionmaker)
    async with OutboxRelay(sessionmaker, bus, linger=30).running():
        for n in range(3):
            seq = await _emit(world, {"n": n})
            await wait_for(lambda seq=seq: _received(received, seq), within=10)


async def _subscribed_after_leftovers(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[InProcessBus, list[int]]:
    """A fanout bus with one pod bound to everything, and the seqs it receives, once other
    tests' unpublished events are out of the way."""
    while await OutboxRelay(sessionmaker, InProcessBus()).publish_pending():
        pass
    bus, received = InProcessBus("fanout"), []
    subscription = await bus.subscribe(
        world.slug, "pod", lambda _t, batch: received.extend(s for s, _ in batch.entries)
    )
    await subscription.bind(["all"])
    return bus, received


async def _received(received: list[int], seq: int) -> bool:
    return seq in received


async def test_relay_reopens_its_connection_after_the_server_drops_it(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The relay's loop keeps one connection; when the server ends it (as a restart would),
    a later round opens another and the events committed meanwhile are published."""
    bus, received = await _subscribed_after_leftovers(world, sessionmaker)
    relay = OutboxRelay(sessionmaker, bus, poll_interval=0.05, retry_delay=0.05)
    async with relay.running():
        first = await _emit(world, {"n": 1})
        await wait_for(lambda: _received(received, first), within=10)
        killed_pid = relay.backend_pid
        assert killed_pid is not None
        async with sessionmaker() as session:
            terminate = select(func.pg_terminate_backend(killed_pid))
            assert await session.scalar(terminate) is True
        second = await _emit(world, {"n": 2})
        await wait_for(lambda: _received(received, second), within=10)
        assert relay.backend_pid not in (None, killed_pid)
    assert relay.backend_pid is None  # given back when the relay stopped


class ReconnectingBus(InProcessBus):
    """Unavailable for its first ``down`` publishes, then up: a broker coming back while a
    round retries its events one by one."""

    def __init__(self, down: int) -> None:
        super().__init__("fanout")
        self.down = down

    async def publish(self, tenant: str, events: Any) -> None:
        if self.down:
            self.down -= 1
            raise BusUnavailable("channel closed")
        await super().publish(tenant, events)


async def test_outage_mid_round_holds_the_rest_back_so_nothing_overtakes(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The broker comes back during a round: the events it could not take go back to the
    outbox uncounted, and none after them is published first (it was: the later ones got
    through one by one and the first ones followed a round later, after a higher ``seq`` —
    119 events in bench/ingest_reliability.py's RabbitMQ restart)."""
    while await OutboxRelay(sessionmaker, InProcessBus()).publish_pending():
        pass  # other tests' leftovers
    seqs = [await _emit(world, {"n": n}) for n in range(5)]
    bus = ReconnectingBus(down=3)  # the batch, then the first two alone
    received: list[int] = []
    subscription = await bus.subscribe(
        world.slug, "pod", lambda _t, batch: received.extend(s for s, _ in batch.entries)
    )
    await subscription.bind(["all"])
    relay = OutboxRelay(sessionmaker, bus)
    while True:
        try:
            if not await relay.publish_pending():
                break
        except BusUnavailable:
            pass  # nothing got through: rolled back, as the relay's loop would retry
    assert received == seqs
    async with sessionmaker() as session:
        attempts = await session.scalars(
            select(Event.publish_attempts).where(Event.tenant_id == world.id)
        )
        assert set(attempts) == {0}


def test_bus_event_of_a_deep_payload_cannot_be_encoded() -> None:
    from runtime.bus.codec import ENCODE_ERRORS, encode_frame

    with pytest.raises(ENCODE_ERRORS):
        encode_frame(BusEvent(1, "t", nested(300), ()))


async def test_events_follow_their_savepoints_and_cursors_stay_consecutive(
    world: TenantWorld, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Events are written at commit: those of a rolled-back savepoint are dropped with it,
    those of a released one kept, and the survivors get consecutive cursors in the order
    they were recorded; a rolled-back transaction writes none."""

    async def emit(session: AsyncSession, name: str) -> None:
        await record_event(session, world.id, "test.event", {"name": name}, ["all"])

    async with sessionmaker() as session, session.begin():
        before = await session.scalar(select(Tenant.event_seq).where(Tenant.id == world.id))
        await emit(session, "first")
        with contextlib.suppress(RuntimeError):
            async with session.begin_nested():
                await emit(session, "rolled back")
                raise RuntimeError("undo the savepoint")
        async with session.begin_nested():
            await emit(session, "released")
            with contextlib.suppress(RuntimeError):
                async with session.begin_nested():
                    await emit(session, "inner, rolled back")
                    raise RuntimeError("undo the inner savepoint")
        await emit(session, "last")
    with contextlib.suppress(RuntimeError):
        async with sessionmaker() as session, session.begin():
            await emit(session, "never committed")
            raise RuntimeError("undo the transaction")

    assert before is not None
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Event.seq, Event.payload)
                .where(Event.tenant_id == world.id, Event.seq > before)
                .order_by(Event.seq)
            )
        ).all()
    assert [(seq - before, payload["name"]) for seq, payload in rows] == [
        (1, "first"), (2, "released"), (3, "last")
    ]  # fmt: skip
