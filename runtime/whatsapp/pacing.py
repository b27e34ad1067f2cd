"""Outbound pacing: per-sender throughput and per-(sender, recipient) pair limits.

Meta allows 80 messages/s per business number by default and, per recipient, one message
every 6 s sustained with bursts of up to 45 that borrow from future quota (brief, section 5).
Both are token buckets; :meth:`Pacer.acquire` queues callers instead of failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_THROUGHPUT = 80.0
PAIR_INTERVAL = 6.0
PAIR_BURST = 45


@dataclass
class TokenBucket:
    """A token bucket refilled at ``rate`` tokens/s up to ``capacity``."""

    rate: float
    capacity: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_take(self, now: float) -> bool:
        """Take a token if one is available right now."""
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def reserve(self, now: float) -> float:
        """Take a token, possibly borrowing; return seconds to wait before using it."""
        self._refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def is_full(self, now: float) -> bool:
        """Whether the bucket has refilled completely (and so equals a fresh one)."""
        self._refill(now)
        return self.tokens >= self.capacity


class Pacer:
    """Queues sends so that neither the sender's throughput nor a pair limit is exceeded."""

    def __init__(
        self,
        *,
        throughput: float = DEFAULT_THROUGHPUT,
        pair_interval: float = PAIR_INTERVAL,
        pair_burst: int = PAIR_BURST,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_idle_pairs: int = 10_000,
    ) -> None:
        self._throughput = throughput
        self._pair_rate = 1.0 / pair_interval
        self._pair_burst = pair_burst
        self._clock = clock
        self._sleep = sleep
        self._max_idle_pairs = max_idle_pairs
        self._senders: dict[str, TokenBucket] = {}
        self._pairs: dict[tuple[str, str], TokenBucket] = {}

    def set_throughput(self, sender: str, messages_per_second: float) -> None:
        """Change one sender's throughput (e.g. after an upgrade to 1,000 mps); the same
        rate again keeps the bucket (and what it has used) as it is."""
        current = self._senders.get(sender)
        if current is None or current.rate != messages_per_second:
            self._senders[sender] = TokenBucket(messages_per_second, messages_per_second)

    async def acquire(self, sender: str, recipient: str) -> None:
        """Wait until ``sender`` may send one message to ``recipient``."""
        pair = self._pairs.get((sender, recipient))
        if pair is None:
            self._prune()
            pair = self._pairs[(sender, recipient)] = TokenBucket(self._pair_rate, self._pair_burst)
        await self._wait(pair.reserve(self._clock()))
        bucket = self._senders.get(sender)
        if bucket is None:
            bucket = self._senders[sender] = TokenBucket(self._throughput, self._throughput)
        await self._wait(bucket.reserve(self._clock()))

    async def _wait(self, delay: float) -> None:
        if delay > 0:
            await self._sleep(delay)

    def _prune(self) -> None:
        """Forget full pair buckets once there are many (a full bucket equals a new one)."""
        if len(self._pairs) < self._max_idle_pairs:
            return
        now = self._clock()
        for key in [key for key, bucket in self._pairs.items() if bucket.is_full(now)]:
            del self._pairs[key]
