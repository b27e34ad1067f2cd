"""Operator settings from ``SCRM_OPERATOR_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    resync_seconds: float = 60.0  # timer: re-apply children, repair drift, refresh status
    gc_seconds: float = 60.0  # timer: collect queues of pods that are gone
    retry_seconds: float = 10.0  # delay of a failed create/update/resume

    @classmethod
    def from_env(cls) -> OperatorConfig:
        env = os.environ.get
        return cls(
            resync_seconds=float(env("SCRM_OPERATOR_RESYNC_SECONDS", cls.resync_seconds)),
            gc_seconds=float(env("SCRM_OPERATOR_GC_SECONDS", cls.gc_seconds)),
            retry_seconds=float(env("SCRM_OPERATOR_RETRY_SECONDS", cls.retry_seconds)),
        )


CONFIG = OperatorConfig.from_env()
