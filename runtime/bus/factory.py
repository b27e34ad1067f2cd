"""Choosing the bus from settings: RabbitMQ when an AMQP URL is set, else in-process."""

from __future__ import annotations

from runtime.bus.base import Bus
from runtime.bus.inprocess import InProcessBus
from runtime.bus.podmap import ManagementPodMap, PodMap, vhost_of
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
            pod_map=_pod_map(settings, settings.amqp_url),
        )
    return InProcessBus(settings.delivery_mode)


def _pod_map(settings: Settings, amqp_url: str) -> PodMap | None:
    """The relay's view of the bindings, for ``pods`` publishing (it reads nothing until the
    first publish, so ws pods, which only consume, never call the API)."""
    if settings.bus_routed_publish != "pods" or settings.delivery_mode != "routed":
        return None
    if settings.bus_management_url is None:
        raise ValueError(
            "SCRM_BUS_ROUTED_PUBLISH=pods needs SCRM_BUS_MANAGEMENT_URL (the RabbitMQ "
            "management API the relay reads the exchange's bindings from)"
        )
    return ManagementPodMap(
        settings.bus_management_url.get_secret_value(),
        vhost_of(amqp_url),
        interval=settings.bus_pod_map_refresh_seconds,
    )
