"""A serving process's garbage collector: startup objects frozen, thresholds raised."""

from __future__ import annotations

import gc

from runtime.gc_tuning import THRESHOLDS, tune_for_latency


def test_serving_process_freezes_startup_objects_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_for_latency()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # the modules, mappers, … imported so far
        assert THRESHOLDS[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
