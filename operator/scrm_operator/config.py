"""Operator settings from ``SCRM_OPERATOR_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from scrm_operator.policy import Policy


@dataclass(frozen=True)
class OperatorConfig:
    resync_seconds: float = 60.0  # timer: re-apply children, repair drift, refresh status
    gc_seconds: float = 60.0  # timer: collect queues of pods that are gone
    retry_seconds: float = 10.0  # first delay of a failed create/update/resume; deletion's
    retry_max_seconds: float = 300.0  # the doubling delay stops growing here
    policy: Policy = field(default_factory=Policy)  # allow-lists (empty: anything)

    @property
    def tick_seconds(self) -> float:
        """How often the timers look whether a pass is due (a retry or a resync)."""
        return min(self.retry_seconds, self.resync_seconds)

    @classmethod
    def from_env(cls) -> OperatorConfig:
        env = os.environ.get
        return cls(
            resync_seconds=float(env("SCRM_OPERATOR_RESYNC_SECONDS", cls.resync_seconds)),
            gc_seconds=float(env("SCRM_OPERATOR_GC_SECONDS", cls.gc_seconds)),
            retry_seconds=float(env("SCRM_OPERATOR_RETRY_SECONDS", cls.retry_seconds)),
            retry_max_seconds=float(env("SCRM_OPERATOR_RETRY_MAX_SECONDS", cls.retry_max_seconds)),
            policy=Policy(
                image_repositories=_items(env("SCRM_OPERATOR_ALLOWED_IMAGE_REPOSITORIES")),
                graph_urls=_items(env("SCRM_OPERATOR_ALLOWED_GRAPH_URLS")),
                internal_urls=_items(env("SCRM_OPERATOR_ALLOWED_INTERNAL_URLS")),
                media_urls=_items(env("SCRM_OPERATOR_ALLOWED_MEDIA_URLS")),
            ),
        )


def _items(value: str | None) -> tuple[str, ...]:
    """A comma-separated list."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


CONFIG = OperatorConfig.from_env()
