"""Choosing the bus from settings: RabbitMQ when an AMQP URL is set, else in-process."""

from __future__ import annotations

from runtime.bus.base import Bus
from runtime.bus.inprocess import InProcessBus
from runtime.bus.rabbitmq import RabbitBus
from runtime.settings import Settings


def make_bus(settings: Settings, connection_name: str) -> Bus:
    """``connection_name`` shows in the broker's connection list (e.g. ``scrm-ws-<pod>``)."""
    if settings.amqp_url:
        return RabbitBus(
            settings.amqp_url,
            settings.delivery_mode,
            connection_name=connection_name,
            routed_publish=settings.bus_routed_publish,
        )
    return InProcessBus(settings.delivery_mode)
