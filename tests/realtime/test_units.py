"""Unit tests: naming contract, batching, registry ref-counting, de-duplication, buffers."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid

import pytest

from runtime.bus import BusEvent
from runtime.bus.codec import Batch, decode_batch, encode_batch, encode_frame
from runtime.bus.inprocess import InProcessBus
from runtime.bus.management import management_api
from runtime.bus.naming import exchange_name, parse_queue_name, pod_name, queue_name
from runtime.bus.podmap import ManagementPodMap, holders_from_bindings, vhost_of
from runtime.bus.routing import Reassembler, every_key, split_batch
from runtime.domain.visibility import (
    contacts_agent_key,
    contacts_team_key,
    inbox_agent_key,
    socket_keys,
)
from runtime.ws.connection import CLOSE_RESCOPE, CLOSE_SESSION, CLOSE_SLOW, Connection
from runtime.ws.dedupe import SeenWindow
from runtime.ws.registry import Registry


def ev(seq: int, *audience: str) -> BusEvent:
    return BusEvent(seq, "t", {"n": seq}, audience)


def test_naming_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    assert exchange_name("acme", "fanout") == "scrm.acme.fanout"
    assert exchange_name("acme", "routed") == "scrm.acme.routed"
    assert queue_name("acme", "ws-7f9c-x2") == "scrm.acme.ws.ws-7f9c-x2"
    assert parse_queue_name("scrm.acme.ws.ws-7f9c-x2") == ("acme", "ws-7f9c-x2")
    assert parse_queue_name("scrm.acme.fanout") is None
    assert parse_queue_name("other.acme.ws.p") is None
    with pytest.raises(ValueError):
        queue_name("Acme.Corp", "p")
    monkeypatch.setenv("POD_NAME", "from-env")
    assert pod_name("configured") == "configured"
    assert pod_name(None) == "from-env"
    monkeypatch.delenv("POD_NAME")
    assert pod_name(None)  # the hostname


def test_codec_round_trip() -> None:
    events = [ev(1, "agent.a"), ev(2, "team.t", "all"), BusEvent(3, "t", {"s": "a\nb"}, ("x",))]
    batch = decode_batch(encode_batch(events))
    assert batch.entries == [[1, ["agent.a"]], [2, ["team.t", "all"]], [3, ["x"]]]
    assert [batch.frame(i) for i in range(3)] == [encode_frame(e) for e in events]
    assert batch.frame(2) == '{"seq":3,"type":"t","payload":{"s":"a\\nb"}}'
    assert encode_frame(events[0]) == '{"seq":1,"type":"t","payload":{"n":1}}'
    assert Batch.of(events).entries == batch.entries
    with pytest.raises(ValueError):
        decode_batch(b'[[1,["a"]],[2,["b"]]]\n{}')


def test_fanout_batches_in_order_and_chunks() -> None:
    events = [ev(i, "agent.a") for i in range(5)]
    assert split_batch(events, "fanout", 2) == [
        ([""], events[0:2]),
        ([""], events[2:4]),
        ([""], events[4:5]),
    ]


def test_routed_audience_sends_one_message_per_audience_in_cursor_order() -> None:
    a1, b2, ab3, a4, ba5, all6 = (
        ev(1, "agent.a"),
        ev(2, "agent.b"),
        ev(3, "agent.a", "all"),
        ev(4, "agent.a"),
        ev(5, "all", "agent.a", "all"),  # the same audience as ab3, in another order, repeated
        ev(6, "all"),
    )
    assert split_batch([a1, b2, ab3, a4, ba5, all6], "routed", 100, "audience") == [
        (["agent.a"], [a1, a4]),
        (["agent.b"], [b2]),
        (["agent.a", "all"], [ab3, ba5]),
        (["all"], [all6]),
    ]
    assert split_batch([a1, b2, a4, ab3], "routed", 1, "audience") == [
        (["agent.a"], [a1]),
        (["agent.a"], [a4]),
        (["agent.b"], [b2]),
        (["agent.a", "all"], [ab3]),
    ]
    assert every_key(split_batch([a1, b2, ab3], "routed", 100, "audience")) == [
        "agent.a",
        "agent.b",
        "all",
    ]
    assert split_batch([ev(7)], "routed", 100, "audience") == []  # no audience: nobody to route to


def test_routed_cc_sends_one_message_per_chunk_with_every_key() -> None:
    e1, e2, e3 = ev(1, "agent.a"), ev(2, "agent.a", "all"), ev(3, "team.t")
    assert split_batch([e1, e2, e3], "routed", 100, "cc") == [
        (["agent.a", "all", "team.t"], [e1, e2, e3])
    ]
    assert split_batch([e1, e2, e3], "routed", 2, "cc") == [
        (["agent.a", "all"], [e1, e2]),
        (["team.t"], [e3]),
    ]


def _broker(messages: list[tuple[list[str], list[BusEvent]]], bound: set[str]) -> list[Batch]:
    """What a queue bound to ``bound`` receives: each message at most once, in order."""
    return [Batch.of(chunk) for keys, chunk in messages if bound.intersection(keys)]


@pytest.mark.parametrize(
    "bound",
    [{"agent.a"}, {"agent.b"}, {"all"}, {"agent.a", "all"}, {"agent.a", "agent.b", "all"}],
)
def test_routed_audience_queue_gets_exactly_its_events_reassembled_in_order(
    bound: set[str],
) -> None:
    events = [
        ev(seq, *audience)
        for seq, audience in enumerate(
            [("agent.a",), ("agent.b", "all"), ("agent.a", "all"), ("all",), ("agent.b",)] * 3,
            start=1,
        )
    ]
    parts = _broker(split_batch(events, "routed", 2, "audience"), bound)
    mine = [[e.seq, list(e.audience)] for e in events if bound.intersection(e.audience)]
    # no event of another queue's audience travels here, and none twice
    assert sorted(entry for part in parts for entry in part.entries) == mine
    reassembler = Reassembler()
    assert all(reassembler.part("p1", part) == [] for part in parts)
    [batch] = reassembler.end("p1")
    assert batch.entries == mine  # cursor order, as the client requires
    assert [batch.frame(i) for i in range(len(batch))] == [
        encode_frame(e) for e in events if bound.intersection(e.audience)
    ]


def test_routed_pods_sends_one_message_per_set_of_pods_in_cursor_order() -> None:
    holders = {"agent.a": frozenset({"p1"}), "agent.b": frozenset({"p2"}),
               "all": frozenset({"p1"})}  # fmt: skip
    a1, b2, ab3, ball4, x5, a6, none7 = (
        ev(1, "agent.a"),
        ev(2, "agent.b"),
        ev(3, "agent.a", "agent.b"),
        ev(4, "agent.b", "all"),  # p2 for agent.b, p1 for the supervisor: like ab3
        ev(5, "agent.x"),  # nobody known: a group of its own, still routed by agent.x
        ev(6, "agent.a", "agent.x"),  # agent.x unknown: p1's group, carrying agent.x
        ev(7),
    )
    events = [a1, b2, ab3, ball4, x5, a6, none7]
    assert split_batch(events, "routed", 100, "pods", holders) == [
        (["agent.a", "agent.x"], [a1, a6]),
        (["agent.b"], [b2]),
        (["agent.a", "agent.b", "all"], [ab3, ball4]),
        (["agent.x"], [x5]),
    ]
    assert split_batch(events, "routed", 1, "pods", holders)[:2] == [
        (["agent.a"], [a1]),
        (["agent.a", "agent.x"], [a6]),
    ]
    # knowing no pod: one group, cut like cc (an event without audience goes nowhere)
    assert split_batch(events, "routed", 100, "pods", {}) == [(every_key(split_batch(
        events, "routed", 100)), events[:-1])]  # fmt: skip


_ROUND = [("agent.a",), ("agent.b", "all"), ("agent.a", "all"), ("all",), ("agent.b",),
          ("agent.c",), ("agent.a", "agent.c")] * 3  # fmt: skip
_RIGHT = {"agent.a": frozenset({"p1"}), "agent.b": frozenset({"p2"}),
          "all": frozenset({"p1", "p3"}), "agent.c": frozenset({"p3"})}  # fmt: skip
_BOUND = {"p1": {"agent.a", "all"}, "p2": {"agent.b"}, "p3": {"all", "agent.c"}}


@pytest.mark.parametrize(
    ("holders", "foreign"),
    [
        (_RIGHT, False),  # a pod receives nothing of another pod's
        ({**_RIGHT, "agent.c": frozenset({"p2"})}, True),  # agent.c moved to p3 since
        ({"agent.a": frozenset({"p1"})}, True),  # most keys unknown
        ({}, True),  # nothing known
    ],
)
@pytest.mark.parametrize("pod", ["p1", "p2", "p3"])
def test_routed_pods_queue_gets_every_event_once_in_order_whatever_the_map(
    holders: dict[str, frozenset[str]], foreign: bool, pod: str
) -> None:
    events = [ev(seq, *audience) for seq, audience in enumerate(_ROUND, start=1)]
    bound = _BOUND[pod]
    parts = _broker(split_batch(events, "routed", 2, "pods", holders), bound)
    received = [entry for part in parts for entry in part.entries]
    mine = [[e.seq, list(e.audience)] for e in events if bound.intersection(e.audience)]
    assert len(received) == len({seq for seq, _ in received})  # no event twice
    if not foreign:
        assert sorted(received) == mine
    reassembler = Reassembler()
    assert all(reassembler.part("p", part) == [] for part in parts)
    [batch] = reassembler.end("p")
    assert [entry for entry in batch.entries if bound.intersection(entry[1])] == mine


def test_pod_map_reads_bindings_and_vhost() -> None:
    bindings = [
        {"destination": "scrm.acme.ws.pod-1", "destination_type": "queue", "routing_key": "a"},
        {"destination": "scrm.acme.ws.pod-2", "destination_type": "queue", "routing_key": "a"},
        {"destination": "scrm.acme.ws.pod-2", "destination_type": "queue", "routing_key": "b"},
        {"destination": "scrm.other.ws.pod-3", "destination_type": "queue", "routing_key": "c"},
        {"destination": "scrm.acme.ws.pod-4", "destination_type": "exchange", "routing_key": "d"},
        {"destination": "stranger", "destination_type": "queue", "routing_key": "e"},
    ]
    assert holders_from_bindings("acme", bindings) == {
        "a": frozenset({"pod-1", "pod-2"}),
        "b": frozenset({"pod-2"}),
    }
    assert vhost_of("amqp://u:p@h:5672/") == "/"
    assert vhost_of("amqp://u:p@h") == "/"
    assert vhost_of("amqp://u:p@h/tenant%2Fx") == "tenant/x"


def test_the_management_url_is_split_into_a_shown_address_and_a_hidden_login() -> None:
    api = management_api("http://relay:p%40ss@rabbit:15672/")
    assert (api.url, api.auth) == ("http://rabbit:15672", ("relay", "p@ss"))
    assert "p@ss" not in repr(api) and "p%40ss" not in repr(api)
    assert management_api("https://rabbit/mq/").url == "https://rabbit/mq"
    assert management_api("http://rabbit:15672").auth == ("guest", "guest")


async def test_the_pod_maps_failed_read_logs_no_password(caplog: pytest.LogCaptureFixture) -> None:
    """The management API unreachable: the pod map's warning names the tenant, and neither
    it nor anything else logged shows the password."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pod_map = ManagementPodMap(f"http://relay:s3cret-pw@127.0.0.1:{port}", "/")
    try:
        with caplog.at_level(logging.DEBUG):
            assert await pod_map.refresh("acme") == {}
    finally:
        await pod_map.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "runtime.bus.podmap"]
    assert warnings and "acme" in warnings[0], caplog.text
    assert "s3cret-pw" not in caplog.text


def test_reassembler_end_without_parts_and_stale_parts() -> None:
    reassembler = Reassembler(stale_after=5)
    assert reassembler.end("never-held", now=0) == []
    assert reassembler.part("orphan", Batch.of([ev(2, "a"), ev(4, "a")]), now=0) == []
    assert reassembler.part("orphan", Batch.of([ev(3, "b")]), now=1) == []
    assert reassembler.part("other", Batch.of([ev(9, "a")]), now=4) == []
    # the orphan's marker never came: released in order once stale, the other still held
    [released] = reassembler.part("late", Batch.of([ev(10, "a")]), now=6)
    assert [seq for seq, _ in released.entries] == [2, 3, 4]
    [other, late] = [reassembler.end("other", now=6)[0], reassembler.end("late", now=6)[0]]
    assert (other.entries, late.entries) == ([[9, ["a"]]], [[10, ["a"]]])


def test_registry_binds_on_first_and_unbinds_on_last_connection() -> None:
    registry: Registry[str] = Registry()
    assert registry.add("tab1", ["agent.a", "all"]) == ["agent.a", "all"]
    assert registry.add("tab2", ["agent.a"]) == []
    assert registry.add("bob", ["agent.b", "all"]) == ["agent.b"]
    assert registry.targets(["agent.a", "all"]) == {"tab1", "tab2", "bob"}
    assert registry.remove("tab1", ["agent.a", "all"]) == []
    assert registry.remove("tab2", ["agent.a"]) == ["agent.a"]
    assert registry.remove("bob", ["agent.b", "all"]) == ["agent.b", "all"]
    assert len(registry) == 0 and registry.targets(["all"]) == set()


def test_seen_window_drops_floor_and_recent_duplicates() -> None:
    seen = SeenWindow(floor=10, size=2)
    assert [seen.first_time(s) for s in (9, 10, 11, 11, 13, 12)] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]
    assert seen.first_time(11)  # fell out of the window of 2


def _conn(buffer: int = 4, cursor: int = 0) -> Connection:
    return Connection(uuid.uuid4(), uuid.uuid4(), "acme", frozenset({"agent.a"}), cursor, buffer)


async def test_connection_holds_live_frames_during_catch_up_then_dedupes() -> None:
    conn = _conn(cursor=2)
    for seq in (4, 3, 5):
        conn.offer(seq, f"f{seq}", 0.0)
    assert conn.seen.first_time(3) and conn.seen.first_time(4)  # what replay sent
    conn.go_live(replayed_upto=4)
    conn.offer(5, "f5", 0.0)  # a duplicate of a held-back frame
    conn.offer(6, "f6", 0.0)
    sent: list[str] = []
    two_sent = asyncio.Event()

    async def send(frame: str) -> None:
        sent.append(frame)
        if len(sent) == 2:
            two_sent.set()

    pump = asyncio.create_task(conn.pump(send))
    async with asyncio.timeout(5):
        await two_sent.wait()
    pump.cancel()
    assert sent == ["f5", "f6"]


def test_connection_overflow_ends_it_as_slow_consumer() -> None:
    conn = _conn(buffer=2)
    conn.go_live(0)
    for seq in (1, 2):
        conn.offer(seq, "f", 0.0)
    assert not conn.ended.is_set()
    conn.offer(3, "f", 0.0)
    assert conn.ended.is_set() and conn.close_code == CLOSE_SLOW


async def test_in_process_bus_filters_by_mode() -> None:
    got: dict[str, list[int]] = {"fanout": [], "routed": []}
    for mode in ("fanout", "routed"):
        bus = InProcessBus(mode)  # type: ignore[arg-type]
        sub = await bus.subscribe(
            "acme", "pod", lambda _t, b, m=mode: got[m].extend(seq for seq, _ in b.entries)
        )
        await sub.bind(["agent.a"])
        await bus.publish("acme", [ev(1, "agent.a"), ev(2, "agent.b")])
        await bus.publish("other", [ev(3, "agent.a")])
        await sub.unbind(["agent.a"])
        await bus.publish("acme", [ev(4, "agent.a")])
        await sub.close()
        await bus.publish("acme", [ev(5, "agent.a")])
    assert got == {"fanout": [1, 2, 4], "routed": [1]}


def test_connection_acts_on_session_control_after_its_admission() -> None:
    sid = uuid.uuid4()
    conn = _conn()
    conn.sid, conn.admitted_at_seq = sid, 10
    conn.control(9, {"action": "revoke"})  # from before the socket was admitted
    conn.control(11, {"action": "revoke", "sid": str(uuid.uuid4())})  # another sign-in
    assert not conn.ended.is_set()
    conn.control(12, {"action": "rescope"})
    conn.control(13, {"action": "revoke", "sid": str(sid)})  # the first reason wins
    assert (conn.close_code, conn.close_reason) == (CLOSE_RESCOPE, "reconnect")
    revoked = _conn()
    revoked.control(1, {"action": "revoke", "sid": None})
    assert (revoked.close_code, revoked.close_reason) == (CLOSE_SESSION, "session ended")


def test_socket_keys_mirror_the_read_permissions() -> None:
    agent, team = uuid.uuid4(), uuid.uuid4()
    own = {f"agent.{agent}", f"session.{agent}"}
    assert socket_keys(agent, [], [team]) == own
    assert socket_keys(agent, ["inbox:read:all", "inbox:read:assigned"], []) == own | {"inbox.all"}
    assert socket_keys(agent, ["inbox:read:assigned", "contacts:read:assigned"], [team]) == own | {
        inbox_agent_key(agent),
        contacts_agent_key(agent),
        contacts_team_key(team),
        "contacts.pool",
    }
