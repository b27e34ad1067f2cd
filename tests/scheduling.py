"""How pytest-xdist deals the suite out to its workers (``scripts/test.sh`` runs two).

A work unit is a test file, or a file's tests on one backend (``[sqlite]`` / ``[postgres]``)
when they are parametrized by it, so that a slow file's two halves can run on two workers
at once. Units go out longest first, by the seconds they took in the last run (pytest's
cache, else the committed ``tests/scope_seconds.json``, a full run's times on a loaded VM;
a unit never timed counts one second per test): a long unit dealt out last would leave the
other worker idle till it ends.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling
from xdist.workermanage import WorkerController

CACHE_KEY = "scrm/scope-seconds"
SEED = Path(__file__).with_name("scope_seconds.json")
_BACKEND = re.compile(r"[\[-](sqlite|postgres)[-\]]")


def scope_of(nodeid: str) -> str:
    """The work unit of a test: ``path`` or ``path::backend``."""
    path, _, name = nodeid.partition("::")
    backend = _BACKEND.search(name)
    return f"{path}::{backend.group(1)}" if backend else path


def known_seconds(config: pytest.Config) -> dict[str, float]:
    seed = json.loads(SEED.read_text()) if SEED.exists() else {}
    cache = getattr(config, "cache", None)
    cached = cache.get(CACHE_KEY, {}) if cache is not None else {}
    return {**seed, **cached}


class LongestFirstScheduling(LoadFileScheduling):
    """``--dist loadfile`` with the work units above, dealt out longest first."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._seconds = known_seconds(config)
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._ordered:  # the first call: the whole queue is known
            units = sorted(self.workqueue.items(), key=lambda unit: -self._expected(*unit))
            self.workqueue = collections.OrderedDict(units)
            self._ordered = True
        super()._assign_work_unit(node)

    def _expected(self, scope: str, tests: dict[str, bool]) -> float:
        return self._seconds.get(scope, float(len(tests)))


class UnitTimer:
    """Adds up each work unit's setup, call and teardown seconds (on the xdist controller,
    which sees every worker's reports) and keeps them in pytest's cache at the end."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[scope_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(session.config, "cache", None)  # None under -p no:cacheprovider
        if cache is not None and self.seconds:
            timed = {scope: round(s, 1) for scope, s in self.seconds.items()}
            cache.set(CACHE_KEY, {**cache.get(CACHE_KEY, {}), **timed})
