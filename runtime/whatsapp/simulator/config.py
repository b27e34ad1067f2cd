"""Simulator settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from runtime.whatsapp.pacing import PAIR_BURST, PAIR_INTERVAL
from runtime.whatsapp.webhooks import StatusName


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated Meta side behaves.

    Attributes:
        webhook_url: receiver for signed webhooks; ``None`` records deliveries as skipped.
        app_secret: key of the ``X-Hub-Signature-256`` HMAC.
        window_violation: free-form send outside the 24 h window fails ``"sync"`` (HTTP 400,
            131047) or ``"async"`` (HTTP 200, then a ``failed`` status webhook with 131047).
        auto_statuses: statuses emitted after ``sent``, ``status_interval`` seconds apart.
        webhook_retry_delays: delays before each redelivery of a webhook that was not
            answered 200; attempts are bounded by ``1 + len(webhook_retry_delays)``.
        enforce_rate_limits: answer 130429 / 131056 when throughput or pair limits are hit.
        webhook_transport: custom transport for webhook POSTs (tests: an ASGI receiver).
    """

    webhook_url: str | None = None
    app_secret: str = "sim-app-secret"
    window_violation: Literal["sync", "async"] = "async"
    auto_statuses: tuple[StatusName, ...] = ("delivered", "read")
    status_interval: float = 0.2
    webhook_retry_delays: tuple[float, ...] = (0.0, 1.0, 5.0, 30.0, 120.0)
    webhook_timeout: float = 5.0
    enforce_rate_limits: bool = True
    pair_interval: float = PAIR_INTERVAL
    pair_burst: int = PAIR_BURST
    webhook_transport: httpx.AsyncBaseTransport | None = None
