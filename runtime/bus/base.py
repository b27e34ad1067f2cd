"""The bus contract shared by the embedded and the RabbitMQ implementations."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runtime.bus.codec import Batch


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One outbox event as it travels: the per-tenant cursor, type, payload and audience."""

    seq: int
    type: str
    payload: dict[str, Any]
    audience: tuple[str, ...]
    # The client-facing frame when already encoded (the relay encodes each event once, to
    # set aside one that cannot be); the codec encodes it otherwise.
    frame: bytes | None = field(default=None, compare=False, repr=False)


class BusUnavailable(Exception):
    """The broker cannot take messages now (connection or channel down, reconnecting): an
    outage, not a fault of the events being published."""


# Called with (tenant slug, batch) for every broker message a subscription receives.
Handler = Callable[[str, "Batch"], None]


class Subscription(Protocol):
    """One pod's consumer for one tenant (a queue, in RabbitMQ terms)."""

    async def bind(self, keys: Iterable[str]) -> None:
        """Start receiving these routing keys; returns once the broker confirmed."""

    async def unbind(self, keys: Iterable[str]) -> None:
        """Stop receiving these routing keys; returns once the broker confirmed."""

    async def close(self) -> None:
        """Stop consuming and delete the queue."""


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, tenant: str, events: Sequence[BusEvent]) -> None:
        """Publish a batch of one tenant's events; returns once the broker confirmed all."""

    async def subscribe(self, tenant: str, pod: str, handler: Handler) -> Subscription:
        """Create (or reuse) this pod's queue for ``tenant``; ``handler`` runs per batch."""
