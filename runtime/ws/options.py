"""Tuning knobs of the ws service, from ``SCRM_WS_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class WsOptions:
    send_buffer: int = 1024  # frames queued per socket before it counts as a slow consumer
    heartbeat_seconds: float = 25.0  # app-level {"type":"heartbeat"} frame interval
    replay_page: int = 500  # events read per catch-up query

    @classmethod
    def from_env(cls) -> WsOptions:
        return cls(
            send_buffer=int(os.environ.get("SCRM_WS_SEND_BUFFER", cls.send_buffer)),
            heartbeat_seconds=float(
                os.environ.get("SCRM_WS_HEARTBEAT_SECONDS", cls.heartbeat_seconds)
            ),
            replay_page=int(os.environ.get("SCRM_WS_REPLAY_PAGE", cls.replay_page)),
        )
