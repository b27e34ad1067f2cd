"""Helpers every test suite uses: waiting on conditions with deadlines, free ports."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(
    condition: Callable[[], Awaitable[Any]], *, within: float = 5.0, interval: float = 0.01
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    last: Any = None
    try:
        async with asyncio.timeout(within):
            while True:
                last = await condition()
                if last:
                    return last
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"condition not met within {within}s (last: {last!r})") from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
