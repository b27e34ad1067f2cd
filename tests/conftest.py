"""Shared fixtures: a migrated database per backend (SQLite and PostgreSQL) and the api."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from cryptography.fernet import Fernet

from runtime.settings import Settings
from tests.services import require_postgres
from tests.support import copy_sqlite, postgres_database

BACKENDS = ["sqlite", "postgres"]
# The operator's package (``scrm_operator``) lives in operator/, outside the distribution:
# tests/operator and tests/cluster import it.
OPERATOR_DIR = Path(__file__).resolve().parents[1] / "operator"
if str(OPERATOR_DIR) not in sys.path:
    sys.path.insert(0, str(OPERATOR_DIR))
# The operator reads its settings once, when ``scrm_operator`` is first imported (tests/cluster
# imports it at collection, before tests/operator): short timers keep the e2e tests quick.
os.environ.setdefault("SCRM_OPERATOR_RESYNC_SECONDS", "2")
os.environ.setdefault("SCRM_OPERATOR_GC_SECONDS", "2")
os.environ.setdefault("SCRM_OPERATOR_RETRY_SECONDS", "1")
# Allow-lists as the chart sets them, plus the loopback servers the tests run.
os.environ.setdefault("SCRM_OPERATOR_ALLOWED_IMAGE_REPOSITORIES", "ghcr.io/scrm")
os.environ.setdefault(
    "SCRM_OPERATOR_ALLOWED_GRAPH_URLS", "https://graph.facebook.com,http://127.0.0.1:*"
)
os.environ.setdefault("SCRM_OPERATOR_ALLOWED_INTERNAL_URLS", "http://*.svc:8000,http://127.0.0.1:*")
os.environ.setdefault(
    "SCRM_OPERATOR_ALLOWED_MEDIA_URLS", "https://*.amazonaws.com,http://*.svc:9000"
)
# argon2 at its lowest cost in this process and the api processes tests start (they inherit
# the environment): ~2 ms instead of ~0.3-1 s per password hashed or checked. Set before any
# test module imports runtime.domain.security, which reads it once.
os.environ.setdefault("SCRM_INSECURE_FAST_PASSWORD_HASHING", "1")
MEDIA_DIR = tempfile.mkdtemp(prefix="scrm-test-media-")  # never the working directory


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        from tests.scheduling import UnitTimer

        config.pluginmanager.register(UnitTimer(), "scrm-unit-timer")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``: work units of a file or a file's backend, longest first
    (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import LongestFirstScheduling

    return LongestFirstScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's signal method, plus the stack of every asyncio task on expiry.

    A hung async test shows only an idle event loop in a thread dump; the task stacks say
    which ``await`` never returned. The timer covers setup, call and teardown.
    """
    if settings.timeout <= 0 or threading.current_thread() is not threading.main_thread():
        return None

    def expired(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        loop = asyncio._get_running_loop()
        for task in asyncio.all_tasks(loop) if loop else ():
            task.print_stack(file=sys.stderr)
        pytest.fail(f"Timeout: the test ran over {settings.timeout:.0f} s", pytrace=False)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout calls it
    return True


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "jwt_secret": "test-jwt-secret-" + "x" * 32,
        "encryption_key": Fernet.generate_key().decode(),
        "whatsapp_app_secret": "test-app-secret",
        "whatsapp_verify_token": "test-verify-token",
        "media_dir": MEDIA_DIR,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def migrated_templates(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], str]]:
    """The URL of a backend's database migrated to head with Alembic, made on first use and
    kept for the session: the template ``database_url`` copies."""
    from runtime.db.migrate import upgrade

    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:

        def url_of(backend: str) -> str:
            if backend not in urls:
                if backend == "sqlite":
                    path = tmp_path_factory.mktemp("template") / "scrm.db"
                    urls[backend] = f"sqlite+aiosqlite:///{path}"
                    upgrade(urls[backend])
                else:
                    database = postgres_database(require_postgres(), "scrm_api_template")
                    urls[backend] = stack.enter_context(database)
            return urls[backend]

        yield url_of


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    migrated_templates: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A fresh database of the backend at the current schema: a copy of its template.

    pytest keeps one value of a parametrized fixture at a time, and an xdist worker switches
    backends at every file, so this runs about once per file and backend; copying costs a
    fraction of an Alembic run. A file never shares its database with other files' tests
    (a send one left queued would be claimed by the next one's outbound worker)."""
    template = migrated_templates(request.param)
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "scrm.db"
        copy_sqlite(template.split(":///", 1)[1], path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        name = template.rsplit("/", 1)[1]
        with postgres_database(require_postgres(), "scrm_api_test", template=name) as url:
            yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)
