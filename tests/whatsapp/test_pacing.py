"""Token-bucket pacing with a fake clock: callers queue instead of failing."""

from __future__ import annotations

import asyncio

from runtime.whatsapp.pacing import Pacer


class FakeClock:
    """A clock whose ``sleep`` advances time instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def _send_times(pacer: Pacer, clock: FakeClock, recipients: list[str]) -> list[float]:
    times = []
    for recipient in recipients:
        await pacer.acquire("sender", recipient)
        times.append(clock.now - 1000.0)
    return times


async def test_pair_allows_burst_then_one_per_interval() -> None:
    clock = FakeClock()
    pacer = Pacer(pair_interval=6.0, pair_burst=3, clock=clock, sleep=clock.sleep)
    times = await _send_times(pacer, clock, ["a"] * 5)
    assert times == [0.0, 0.0, 0.0, 6.0, 12.0]


async def test_pairs_are_independent() -> None:
    clock = FakeClock()
    pacer = Pacer(pair_burst=1, clock=clock, sleep=clock.sleep)
    assert await _send_times(pacer, clock, ["a", "b", "c"]) == [0.0, 0.0, 0.0]


async def test_sender_throughput_spaces_messages() -> None:
    clock = FakeClock()
    pacer = Pacer(throughput=2.0, clock=clock, sleep=clock.sleep)
    times = await _send_times(pacer, clock, ["a", "b", "c", "d"])
    assert times == [0.0, 0.0, 0.5, 1.0]
    pacer.set_throughput("sender", 1000.0)
    assert await _send_times(pacer, clock, ["e", "f"]) == [1.0, 1.0]


async def test_concurrent_callers_queue_in_order() -> None:
    clock = FakeClock()
    pacer = Pacer(pair_interval=6.0, pair_burst=1, clock=clock, sleep=clock.sleep)
    done: list[float] = []

    async def send() -> None:
        await pacer.acquire("sender", "a")
        done.append(clock.now - 1000.0)

    await asyncio.gather(send(), send(), send())
    assert done == [0.0, 6.0, 12.0]


async def test_idle_pairs_are_pruned() -> None:
    clock = FakeClock()
    pacer = Pacer(pair_interval=1.0, pair_burst=1, clock=clock, sleep=clock.sleep, max_idle_pairs=2)
    await _send_times(pacer, clock, ["a", "b"])
    clock.now += 10
    await pacer.acquire("sender", "c")
    assert len(pacer._pairs) == 1


def test_setting_the_same_throughput_keeps_what_was_used() -> None:
    from runtime.whatsapp.pacing import Pacer

    pacer = Pacer(throughput=80)
    pacer.set_throughput("n1", 2)
    bucket = pacer._senders["n1"]
    bucket.reserve(0.0)
    pacer.set_throughput("n1", 2)
    assert pacer._senders["n1"] is bucket  # not refilled by repeating the same rate
    pacer.set_throughput("n1", 5)
    assert pacer._senders["n1"].rate == 5
