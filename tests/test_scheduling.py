"""tests/scheduling.py: how the suite's files are dealt out to xdist workers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.scheduling import LongestFirstScheduling, scope_of


def test_a_files_backends_are_separate_work_units() -> None:
    assert scope_of("tests/api/test_fuzz.py::test_x[sqlite]") == "tests/api/test_fuzz.py::sqlite"
    assert scope_of("tests/a.py::test_y[postgres-/webhooks-3]") == "tests/a.py::postgres"
    assert scope_of("tests/a.py::test_z[routed-sqlite]") == "tests/a.py::sqlite"
    assert scope_of("tests/a.py::test_plain") == "tests/a.py"
    assert scope_of("tests/a.py::test_p[postgresql_url]") == "tests/a.py"


class _Config:
    """What the scheduler reads of pytest's config: two workers, and the last run's times."""

    option = SimpleNamespace(loadscopereorder=True)

    def __init__(self, seconds: dict[str, float]) -> None:
        self.cache = SimpleNamespace(get=lambda key, default: seconds)

    def getvalue(self, name: str) -> Any:
        return {"tx": ["2*popen"]}[name]


class _Worker:
    shutting_down = False

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent += indexes

    def shutdown(self) -> None:
        self.shutting_down = True


def test_units_go_out_longest_first_and_a_slow_files_backends_to_both_workers() -> None:
    collection = [
        "tests/quick.py::test_1",
        "tests/quick.py::test_2",
        "tests/quick.py::test_3",
        "tests/fuzz.py::test_f[sqlite]",
        "tests/fuzz.py::test_f[postgres]",
        "tests/never_timed.py::test_n",
    ]
    seconds = {"tests/quick.py": 3.0, "tests/fuzz.py::sqlite": 130, "tests/fuzz.py::postgres": 110}
    scheduler = LongestFirstScheduling(_Config(seconds))  # type: ignore[arg-type]
    first, second = _Worker("gw0"), _Worker("gw1")
    for worker in (first, second):
        scheduler.add_node(worker)  # type: ignore[arg-type]
        scheduler.add_node_collection(worker, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    # Each worker starts on one half of the fuzz file; then quick.py (3 s), never_timed.py.
    assert [collection[i] for i in first.sent][:1] == ["tests/fuzz.py::test_f[sqlite]"]
    assert [collection[i] for i in second.sent][:1] == ["tests/fuzz.py::test_f[postgres]"]
    assert sorted(first.sent + second.sent) == list(range(len(collection)))
    assert [collection[i] for i in first.sent][1:] == collection[:3]
