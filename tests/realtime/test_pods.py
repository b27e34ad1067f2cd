"""Delivery across real ws processes, RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal

import pytest
import websockets

from runtime.bus.naming import queue_name
from runtime.bus.podmap import ManagementPodMap, vhost_of
from runtime.bus.routing import KeyHolders, RoutedPublish
from runtime.domain.visibility import INBOX_ALL
from tests.realtime.conftest import RunRelay, StartPod, TenantWorld, agent_of
from tests.realtime.stack import BrokerAdmin, Client, Pod, connect, eventually
from tests.services import require_rabbitmq

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.mark.parametrize(
    ("mode", "publish", "per_pod"),
    [
        ("fanout", "audience", (2.0, 1.0)),
        # one message per agent's audience (and an end marker): each pod gets its event only
        ("routed", "audience", (1.0, 0.0)),
        # one message for the round, CC'd to both agents' keys: both pods get it once
        ("routed", "cc", (2.0, 1.0)),
        # one message per pod (each holds one agent), and an end marker: like audience
        ("routed", "pods", (1.0, 0.0)),
    ],
)
async def test_event_reaches_the_right_agent_on_another_pod(
    mode: str,
    publish: str,
    per_pod: tuple[float, float],
    world: TenantWorld,
    pods: StartPod,
    relay: RunRelay,
) -> None:
    pod1, pod2 = await pods(mode), await pods(mode)
    alice, bob = await world.agent(), await world.agent()
    a, b = await connect(pod1.ws_url, alice), await connect(pod2.ws_url, bob)
    # Both committed before the relay starts, so it publishes them in one round.
    [to_alice] = await world.emit([agent_of(alice)])
    [to_bob] = await world.emit([agent_of(bob)])
    async with relay(mode, publish, tenant=world.slug):
        await a.pump(lambda: len(a.frames) == 1)
        await b.pump(lambda: len(b.frames) == 1)
    assert a.seqs == [to_alice] and b.seqs == [to_bob]
    assert a.frames[0] == {"seq": to_alice, "type": "test.event", "payload": {"i": 0, "pad": ""}}
    # Each pod hears its own agent's event; fanout pods also hear (and drop) the other one.
    for pod in (pod1, pod2):
        await eventually(pod.metric_is("scrm_ws_events_out_total", 1), "frame sent")
        received = await pod.metric("scrm_ws_events_in_total")
        dropped = await pod.metric("scrm_ws_events_dropped_not_mine_total")
        assert (received, dropped) == per_pod
        assert await pod.metric("scrm_ws_bus_messages_in_total") == 1


class _MixedRound:
    """Two routed pods: alice and a supervisor (``inbox.all``) on pod 1, bob on pod 2; events
    whose audiences mix them, and the seqs each socket must get, in cursor order."""

    @classmethod
    async def start(cls, world: TenantWorld, pods: StartPod) -> _MixedRound:
        pod1, pod2 = await pods("routed"), await pods("routed")
        alice, supervisor, bob = (
            await world.agent(),
            await world.agent(supervisor=True),
            await world.agent(),
        )
        round_ = cls(pod1, pod2, agent_of(alice), agent_of(bob))
        round_.clients = {
            "a": await connect(pod1.ws_url, alice),
            "s": await connect(pod1.ws_url, supervisor),
            "b": await connect(pod2.ws_url, bob),
        }
        return round_

    def __init__(self, pod1: Pod, pod2: Pod, to_a: str, to_b: str) -> None:
        self.pod1, self.pod2, self.to_a, self.to_b = pod1, pod2, to_a, to_b
        self.clients: dict[str, Client] = {}
        self.expected: dict[str, list[int]] = {"a": [], "s": [], "b": []}

    async def emit(self, world: TenantWorld, times: int = 1) -> None:
        """Emit the mixed audiences ``times`` over; note who must get each event."""
        a, b = self.to_a, self.to_b
        keys = {"a": {a}, "s": {INBOX_ALL}, "b": {b}}
        for audience in [[a], [b], [a, INBOX_ALL], [b, INBOX_ALL], [a], [INBOX_ALL]] * times:
            for seq in await world.emit(audience):
                for name in self.expected:
                    if keys[name] & set(audience):
                        self.expected[name].append(seq)

    async def received(self) -> None:
        for name, client in self.clients.items():
            await client.pump(lambda c=client, n=name: len(c.frames) >= len(self.expected[n]))

    def in_order(self) -> bool:
        return all(c.seqs == self.expected[n] for n, c in self.clients.items())


@pytest.mark.parametrize("publish", ["audience", "pods"])
async def test_routed_pod_gets_only_its_events_in_cursor_order(
    publish: RoutedPublish, world: TenantWorld, pods: StartPod, relay: RunRelay
) -> None:
    """``audience`` / ``pods`` publishing, one relay round mixing both pods' agents and a
    supervisor (``inbox.all``): each pod receives exactly the events of its sockets, and
    every socket gets them in cursor order although they travel in several messages (one
    per audience, or per set of pods: with the relay's view of the bindings right, pod 2
    gets none of pod 1's)."""
    mixed = await _MixedRound.start(world, pods)
    await mixed.emit(world, times=3)
    async with relay("routed", publish, tenant=world.slug):
        await mixed.received()
    assert mixed.in_order()
    expected = mixed.expected
    for pod, events in ((mixed.pod1, expected["a"] + expected["s"]), (mixed.pod2, expected["b"])):
        await eventually(
            pod.metric_is("scrm_ws_events_in_total", len(set(events))), "events received"
        )
        assert await pod.metric("scrm_ws_events_dropped_not_mine_total") == 0
        assert await pod.metric("scrm_ws_bus_messages_in_total") == 1  # one reassembled round


@pytest.mark.parametrize("publish", ["audience", "cc", "pods"])
async def test_routed_pod_without_interested_agents_receives_nothing(
    publish: str, world: TenantWorld, pods: StartPod, relay: RunRelay
) -> None:
    busy, idle = await pods("routed"), await pods("routed")
    alice, supervisor, carol = (
        await world.agent(),
        await world.agent(supervisor=True),
        await world.agent(),
    )
    a = await connect(busy.ws_url, alice)
    s = await connect(busy.ws_url, supervisor)
    c = await connect(idle.ws_url, carol)
    async with relay("routed", publish, tenant=world.slug):
        await world.emit([agent_of(alice)], count=5)
        await world.emit([INBOX_ALL], count=5)
        await a.pump(lambda: len(a.frames) == 5)
        await s.pump(lambda: len(s.frames) == 5)
    assert await idle.metric("scrm_ws_bus_messages_in_total") == 0
    assert await idle.metric("scrm_ws_events_in_total") == 0
    await c.ws.close()


class _FixedPodMap:
    """A relay's view of the bindings that never changes (here: wrong on purpose)."""

    def __init__(self, holders: KeyHolders) -> None:
        self._holders = holders

    def holders(self, tenant: str) -> KeyHolders:
        return self._holders

    async def close(self) -> None:
        pass


async def test_routed_pods_with_a_wrong_map_still_delivers_everything_once_in_order(
    world: TenantWorld, pods: StartPod, relay: RunRelay
) -> None:
    """The relay believes alice is on pod 2 and the supervisor's ``inbox.all`` on pod 2 too
    (both on pod 1, moved), and knows nothing of bob: the broker's bindings still bring every
    socket its events, each once and in cursor order; only extra copies are skipped."""
    mixed = await _MixedRound.start(world, pods)
    on_pod2 = frozenset({mixed.pod2.name})
    wrong = _FixedPodMap({mixed.to_a: on_pod2, INBOX_ALL: on_pod2})
    await mixed.emit(world, times=3)
    async with relay("routed", "pods", wrong):
        await mixed.received()
        await mixed.emit(world)  # more rounds after the first: still in order across rounds
        await mixed.received()
    assert mixed.in_order()
    # the wrong map cost copies: pod 2 received (and skipped) events only pod 1 wanted
    assert await mixed.pod2.metric("scrm_ws_events_dropped_not_mine_total") > 0


async def test_routed_pods_key_moved_since_the_relay_read_the_bindings(
    world: TenantWorld, pods: StartPod, relay: RunRelay, rabbit: tuple[str, BrokerAdmin]
) -> None:
    """Alice reconnects on another pod while the relay's view (refreshed only every 60 s)
    still puts her on the first: her events follow her binding, in order, none lost."""
    first, second = await pods("routed"), await pods("routed")
    alice = await world.agent()
    client = await connect(first.ws_url, alice)
    slow_map = ManagementPodMap(require_rabbitmq()[1], vhost_of(rabbit[0]), interval=60)
    assert (await slow_map.refresh(world.slug))[agent_of(alice)] == {first.name}
    async with relay("routed", "pods", slow_map):
        before = await world.emit([agent_of(alice)], count=3)
        await client.pump(lambda: len(client.frames) == 3)
        await client.ws.close()
        await eventually(first.metric_is("scrm_ws_connections", 0), "first socket gone")
        moved = await connect(second.ws_url, alice, cursor=client.seqs[-1])
        after = await world.emit([agent_of(alice)], count=5)
        await moved.pump(lambda: len(moved.frames) == 5)
        assert slow_map.holders(world.slug)[agent_of(alice)] == {first.name}
    assert (client.seqs, moved.seqs) == (before, after)


async def test_sigkilled_pod_loses_nothing_agents_catch_up_elsewhere(
    world: TenantWorld, pods: StartPod, relay: RunRelay
) -> None:
    doomed, survivor = await pods("routed"), await pods("routed")
    alice = await world.agent()
    client = await connect(doomed.ws_url, alice)
    async with relay("routed"):
        producer = asyncio.create_task(world.emit([agent_of(alice)], count=150))
        await client.pump(lambda: len(client.frames) >= 30)
        doomed.stop(signal.SIGKILL)
        with pytest.raises(websockets.ConnectionClosed):
            await client.pump(lambda: False)
        resumed = await connect(survivor.ws_url, alice, cursor=client.seqs[-1])
        expected = await producer
        await resumed.pump(lambda: len(client.frames) + len(resumed.frames) >= len(expected))
    assert client.seqs + resumed.seqs == expected


async def test_socket_that_saw_no_event_resumes_from_the_cursor_ready_gave_it(
    world: TenantWorld, pods: StartPod
) -> None:
    """An agent whose socket drops before any event of theirs came (a pod restart) reconnects
    with the cursor ``ready`` caught it up to and gets what it missed. Without one it would
    reconnect cursorless, start at the head, and never see those events: 60 of 300 messages
    in a loaded reliability run, where the ws kill came before three agents' first event."""
    pod = await pods("routed")
    alice = await world.agent()
    await world.emit([agent_of(alice)], count=2)  # before the socket: not for this client
    first = await connect(pod.ws_url, alice)
    assert first.frames == []
    await first.ws.close()
    missed = await world.emit([agent_of(alice)], count=3)
    resumed = await connect(pod.ws_url, alice, cursor=first.cursor)
    assert resumed.seqs == missed


async def test_broker_connection_drop_loses_nothing_and_delivery_resumes(
    world: TenantWorld, pods: StartPod, relay: RunRelay, rabbit: tuple[str, BrokerAdmin]
) -> None:
    pod = await pods("routed")
    admin = rabbit[1]
    alice = await world.agent()
    client = await connect(pod.ws_url, alice)
    async with relay("routed") as relay_connection:
        producer = asyncio.create_task(world.emit([agent_of(alice)], count=150))
        await client.pump(lambda: len(client.frames) >= 30)
        for name in (f"scrm-ws-{pod.name}", relay_connection):
            await eventually(lambda name=name: admin.close_connections(name), f"{name} closed")
        expected = await producer
        await client.pump(lambda: len(client.frames) >= len(expected), within=30)
    assert client.seqs == expected


async def test_sigterm_closes_sockets_with_1012_and_deletes_the_queue(
    world: TenantWorld, pods: StartPod, rabbit: tuple[str, BrokerAdmin]
) -> None:
    pod = await pods("fanout")
    client = await connect(pod.ws_url, await world.agent())
    queue = queue_name(world.slug, pod.name)
    assert await rabbit[1].queue_exists(queue)
    pod.process.send_signal(signal.SIGTERM)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.pump(lambda: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    # uvicorn re-raises SIGTERM after its graceful shutdown.
    assert await asyncio.to_thread(pod.process.wait, 15) in (0, -signal.SIGTERM)
    assert not await rabbit[1].queue_exists(queue)


async def test_bad_token_never_gets_a_socket(world: TenantWorld, pods: StartPod) -> None:
    pod = await pods("routed")
    good = await world.agent()
    for token in ("", "garbage", good[:-2] + "xx"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(pod.ws_url, token)
        assert refused.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus):
        await connect(pod.ws_url, good, cursor=-1)  # type: ignore[arg-type]
    assert await pod.metric("scrm_ws_connections") == 0


async def test_catch_up_then_live_without_gap_or_duplicate(
    world: TenantWorld, pods: StartPod, relay: RunRelay
) -> None:
    pod = await pods("fanout")
    alice = await world.agent()
    key = agent_of(alice)
    async with relay("fanout"):
        missed = await world.emit([key], count=40)
        await world.emit(["team.nobody"], count=3)
        producer = asyncio.create_task(world.emit([key, INBOX_ALL], count=60))
        client = await connect(pod.ws_url, alice, cursor=missed[9])
        live = await producer
        expected = missed[10:] + live
        await client.pump(lambda: len(client.frames) >= len(expected))
    assert client.seqs == expected


async def test_slow_consumer_is_disconnected(
    world: TenantWorld, pods: StartPod, relay: RunRelay
) -> None:
    pod = await pods("fanout", SCRM_WS_SEND_BUFFER="8")
    alice = await world.agent()
    client = await connect(pod.ws_url, alice, max_queue=1)  # stops reading: TCP backs up
    async with relay("fanout"):
        await world.emit([agent_of(alice)], count=300, size=64 * 1024)
        await eventually(
            pod.metric_is("scrm_ws_slow_consumer_disconnects_total", 1), "slow consumer cut off"
        )
    with pytest.raises(websockets.ConnectionClosed):
        await client.pump(lambda: False)
    assert len(client.frames) < 300
    await eventually(pod.metric_is("scrm_ws_connections", 0), "socket released")


async def test_ws_cursor_out_of_range_refused(world: TenantWorld, pods: StartPod) -> None:
    pod = await pods("routed")
    alice = await world.agent()
    for cursor in (10**30, 2**63, "²", "1e3"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(pod.ws_url, alice, cursor=cursor)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
    client = await connect(pod.ws_url, alice, cursor=2**63 - 1)  # the largest BIGINT is fine
    await client.ws.close()
    assert pod.process.poll() is None
    await eventually(pod.metric_is("scrm_ws_connections", 0), "no socket left")


async def test_a_dead_pod_is_reported_with_its_exit_code_and_stderr(pods: StartPod) -> None:
    """A pod that dies, at start-up or later, fails the test at once saying how it ended and
    what it last wrote, instead of surfacing as a bare connection error."""
    with pytest.raises(AssertionError, match=r"exited with 1(.|\n)*delivery_mode"):
        await pods("bogus")  # type: ignore[arg-type]
    pod = await pods("fanout")
    pod.stop(signal.SIGKILL)
    with pytest.raises(AssertionError, match=r"exited with -9(.|\n)*Uvicorn running on"):
        await pod.metric("scrm_ws_connections")
