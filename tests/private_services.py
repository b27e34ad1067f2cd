"""Private PostgreSQL and RabbitMQ servers that a run may stop and restart.

The shared services (``tests/services.py``) are used by everyone on the machine and must
never be restarted; a run that injects faults starts its own instances instead, on free
ports under a temporary directory, and removes them afterwards — also when it fails:

    with private_servers() as (pg, rabbit):  # started side by side
        pg.url, rabbit.url          # asyncpg SQLAlchemy URL, AMQP URL
        pg.stop(); pg.start()       # a crash (immediate shutdown), then a start
        rabbit.stop(); rabbit.start()

PostgreSQL refuses to run as root: as root, ``initdb``/``pg_ctl`` run as the ``postgres``
system user (``runuser``) on a data directory it owns. RabbitMQ runs as the calling user
with its own node name, ports, Erlang cookie (in a private ``HOME``), data and log
directories and no plugins. Binaries: ``SCRM_POSTGRES_BIN`` (else the newest
``/usr/lib/postgresql/*/bin``, else ``PATH``) and ``SCRM_RABBITMQ_BIN`` (else
``/usr/lib/rabbitmq/bin``, else ``PATH``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import free_port

START_WITHIN = 90.0  # seconds a server gets to start


@contextlib.contextmanager
def private_servers(logs: Path | None = None) -> Iterator[tuple[PrivatePostgres, PrivateRabbitMQ]]:
    """A private PostgreSQL and RabbitMQ, started side by side (RabbitMQ takes longest);
    their logs go to ``logs`` (kept) when given, else to their temporary directories."""
    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(2) as pool:  # ExitStack.enter_context only appends: thread-safe
            pg = pool.submit(stack.enter_context, PrivatePostgres.started(logs))
            rabbit = pool.submit(stack.enter_context, PrivateRabbitMQ.started(logs))
        yield pg.result(), rabbit.result()


def _postgres_bin() -> Path | None:
    configured = os.environ.get("SCRM_POSTGRES_BIN")
    if configured:
        return Path(configured)
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if installed:
        return Path(installed[-1])
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _rabbitmq_bin() -> Path | None:
    configured = os.environ.get("SCRM_RABBITMQ_BIN")
    if configured:
        return Path(configured)
    if Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():  # Debian: sbin holds wrappers
        return Path("/usr/lib/rabbitmq/bin")
    found = shutil.which("rabbitmq-server")
    return Path(found).parent if found else None


def problem() -> str | None:
    """Why private servers cannot be started here, or None."""
    pg, rabbit = _postgres_bin(), _rabbitmq_bin()
    if pg is None or not (pg / "initdb").exists():
        return "initdb not found (set SCRM_POSTGRES_BIN)"
    if rabbit is None or not (rabbit / "rabbitmq-server").exists():
        return "rabbitmq-server not found (set SCRM_RABBITMQ_BIN)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser (PostgreSQL refuses root)"
    return None


def _run(
    cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = START_WITHIN
) -> str:
    """Run a command; raise with its output if it fails."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own; ``url`` names database ``scrm`` (user ``scrm``,
    trust authentication on loopback only)."""

    root: Path
    logs: Path | None = None  # the server log is copied here when the server is removed
    port: int = field(default_factory=free_port)

    @classmethod
    @contextlib.contextmanager
    def started(cls, logs: Path | None = None) -> Iterator[PrivatePostgres]:
        root = Path(tempfile.mkdtemp(prefix="scrm-pg-"))
        server = cls(root, logs)
        try:
            server._init()
            server.start()
            server._create_database()
            yield server
        finally:
            server._remove()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://scrm@127.0.0.1:{self.port}/scrm"

    @property
    def _data(self) -> Path:
        return self.root / "data"

    def _as_owner(self, cmd: list[str]) -> list[str]:
        """As root, run ``cmd`` as the postgres system user (PostgreSQL refuses root)."""
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _init(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        initdb = str(_postgres_bin() / "initdb")  # type: ignore[operator]
        _run(self._as_owner([initdb, "-D", str(self._data), "-U", "scrm", "--auth=trust",
                             "-E", "UTF8", "--no-sync"]))  # fmt: skip

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = str(_postgres_bin() / "pg_ctl")  # type: ignore[operator]
        _run(self._as_owner([pg_ctl, "-D", str(self._data), *args]))

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=400 -c shared_buffers=64MB"
        )
        self._pg_ctl("-l", str(self.root / "postgres.log"), "-w", "-t", str(int(START_WITHIN)),
                     "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        """Crash it: immediate shutdown, no checkpoint (the next start recovers from WAL)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def _create_database(self) -> None:
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(f"postgresql://scrm@127.0.0.1:{self.port}/postgres")
            try:
                await conn.execute("CREATE DATABASE scrm")
            finally:
                await conn.close()

        asyncio.run(create())

    def _remove(self) -> None:
        pid_file = self._data / "postmaster.pid"
        if pid_file.exists():
            try:
                self.stop()
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(ValueError, OSError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        if self.logs is not None and (self.root / "postgres.log").exists():
            self.logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.root / "postgres.log", self.logs / "postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRabbitMQ:
    """A RabbitMQ node of our own (no plugins); ``url`` logs in as guest over loopback."""

    root: Path
    log: Path  # a directory
    node: str = field(default_factory=lambda: f"scrm-private-{secrets.token_hex(4)}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def started(cls, logs: Path | None = None) -> Iterator[PrivateRabbitMQ]:
        root = Path(tempfile.mkdtemp(prefix="scrm-rabbitmq-"))
        server = cls(root, (logs or root) / "rabbitmq")
        try:
            server._configure()
            server.start()
            yield server
        finally:
            server._remove()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _configure(self) -> None:
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text("loopback_users = none\n")
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root),  # the Erlang cookie of the server and of rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),  # none: no defaults
        }

    def _ctl(self, *args: str) -> str:
        ctl = str(_rabbitmq_bin() / "rabbitmqctl")  # type: ignore[operator]
        return _run([ctl, "-n", self.node, *args], env=self._env())

    def start(self) -> None:
        """Start the node (its durable queues and persistent messages come back) and return
        once the broker application runs."""
        server = str(_rabbitmq_bin() / "rabbitmq-server")  # type: ignore[operator]
        self.log.mkdir(parents=True, exist_ok=True)
        with open(self.log / "server.out", "ab") as out:
            self.process = subprocess.Popen(
                [server], env=self._env(), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._ctl("wait", "--timeout", str(int(START_WITHIN)), str(self.root / "rabbitmq.pid"))

    def stop(self) -> None:
        """Stop the node in order (as a restart does) and wait until its process is gone."""
        self._ctl("stop", str(self.root / "rabbitmq.pid"))
        if self.process is not None:
            self.process.wait(START_WITHIN)
            self.process = None

    def _remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop()
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
