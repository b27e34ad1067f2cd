"""runtime.waiting.wait_set: a worker loop built on it stops when cancelled, whenever the
cancel lands (``asyncio.wait_for`` on Python 3.11 loses a cancel that arrives as the event
is set; the outbox relay then never stopped and a test hung for 600 s)."""

from __future__ import annotations

import asyncio

import pytest

from runtime.waiting import wait_set


async def _wake_loop(event: asyncio.Event) -> None:
    while True:
        event.clear()
        await wait_set(event, 0.1)


@pytest.mark.parametrize("steps_between_set_and_cancel", range(6))
async def test_a_cancel_that_lands_as_the_event_is_set_stops_the_loop(
    steps_between_set_and_cancel: int,
) -> None:
    event = asyncio.Event()
    task = asyncio.create_task(_wake_loop(event))
    await asyncio.sleep(0.01)  # the loop is waiting
    event.set()
    for _ in range(steps_between_set_and_cancel):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait([task], timeout=2)
    assert task.cancelled(), "the loop survived its cancellation"


async def test_reports_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5) is True
