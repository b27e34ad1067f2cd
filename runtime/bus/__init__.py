"""Event bus between the outbox relay (publisher) and ws pods (consumers)."""

from runtime.bus.base import Bus, BusEvent, Handler, Subscription
from runtime.bus.factory import make_bus

__all__ = ["Bus", "BusEvent", "Handler", "Subscription", "make_bus"]
