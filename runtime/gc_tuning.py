"""The garbage collector of a serving process, tuned for latency.

CPython's default thresholds (700, 10, 10) run a collection every 700 net allocations and,
now and then, a full one over every object of the process: SQLAlchemy's mappers, compiled
statement caches and the modules make that a pause of ~150 ms on the project's VM (measured
in the inbound processor's rounds, where collections were ~20 % of the CPU). Freezing what
exists once the app is built (it lives as long as the process) takes it out of every later
collection, and a larger first threshold makes collections rarer: the same rounds then spent
~4 % in collections, the longest pause ~14 ms (docs/benchmarks.md)."""

from __future__ import annotations

import gc

# Net allocations before a young collection; then how many of those before a middle one, and
# of those before a full one (which also waits for enough new long-lived objects).
THRESHOLDS = (10_000, 20, 20)


def tune_for_latency() -> None:
    """Collect once, freeze the survivors (startup objects) and raise the thresholds. Call
    once per process, after the app is built, before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
