"""Prometheus metrics of the ws service (process-wide, default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("scrm_ws_connections", "Open agent websockets on this pod")
BUS_MESSAGES_IN = Counter("scrm_ws_bus_messages_in", "Broker messages (batches) received")
EVENTS_IN = Counter("scrm_ws_events_in", "Events received from the bus")
EVENTS_OUT = Counter("scrm_ws_events_out", "Event frames written to sockets")
DROPPED_NOT_MINE = Counter(
    "scrm_ws_events_dropped_not_mine", "Events received with no interested socket on this pod"
)
SLOW_CONSUMERS = Counter("scrm_ws_slow_consumer_disconnects", "Sockets closed for not reading")
SEND_LATENCY = Histogram(
    "scrm_ws_send_latency_seconds",
    "From receipt on this pod to the frame written to the socket",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
