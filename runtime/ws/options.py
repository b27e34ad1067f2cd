"""Tuning knobs of the ws service (``SCRM_WS_*`` settings)."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.settings import Settings


@dataclass(frozen=True)
class WsOptions:
    send_buffer: int = 1024  # frames queued per socket before it counts as a slow consumer
    heartbeat_seconds: float = 25.0  # app-level {"type":"heartbeat"} frame interval
    replay_page: int = 500  # events read per catch-up query

    @classmethod
    def from_settings(cls, settings: Settings) -> WsOptions:
        return cls(
            send_buffer=settings.ws_send_buffer,
            heartbeat_seconds=settings.ws_heartbeat_seconds,
            replay_page=settings.ws_replay_page,
        )
