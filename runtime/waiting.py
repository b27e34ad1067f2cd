"""Waiting for an :class:`asyncio.Event` with a time limit, cancellably.

Python 3.11's ``asyncio.wait_for(event.wait(), timeout)`` swallows a cancellation that
arrives just as the event is set (it returns the inner result instead of raising), so a
worker loop built on it can survive ``task.cancel()`` and its owner's ``await task`` hangs.
``asyncio.timeout`` does not have that race.
"""

from __future__ import annotations

import asyncio


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
