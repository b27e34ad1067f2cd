"""Event bus between the outbox relay (publisher) and ws pods (consumers)."""

from runtime.bus.base import Bus, BusEvent, BusUnavailable, Handler, Subscription
from runtime.bus.factory import make_bus

__all__ = ["Bus", "BusEvent", "BusUnavailable", "Handler", "Subscription", "make_bus"]
