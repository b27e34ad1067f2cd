"""Fixtures for the real-time tests: a private PostgreSQL database, tenants, pods, a relay."""

from __future__ import annotations

import contextlib
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import runtime.models  # noqa: F401  (registers every table)
from runtime.bus.podmap import ManagementPodMap, PodMap, vhost_of
from runtime.bus.rabbitmq import RabbitBus
from runtime.bus.routing import Mode, RoutedPublish
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.events import record_event
from runtime.domain.security import AccessClaims, issue_access_token
from runtime.models import Agent, Role, TeamMember, Tenant
from runtime.relay import OutboxRelay
from tests.realtime.stack import BrokerAdmin, Pod, bounded, start_pod
from tests.services import require_postgres, require_rabbitmq
from tests.support import postgres_database

JWT_SECRET = secrets.token_urlsafe(32)
SECRETS_ENV = {
    "SCRM_JWT_SECRET": JWT_SECRET,
    "SCRM_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "SCRM_WHATSAPP_APP_SECRET": "test-app-secret",
    "SCRM_WHATSAPP_VERIFY_TOKEN": "test-verify-token",
}


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away database (others share the server) with the current schema."""
    with postgres_database(require_postgres(), "scrm_rt") as url:
        yield url


@pytest.fixture
async def sessionmaker(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(pg_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def rabbit() -> tuple[str, BrokerAdmin]:
    amqp_url, api_url = require_rabbitmq()
    return amqp_url, BrokerAdmin(api_url)


@dataclass
class TenantWorld:
    """A tenant with helpers to add agents, issue tokens and emit events."""

    id: uuid.UUID
    slug: str
    sessionmaker: async_sessionmaker[AsyncSession]
    agent_role: uuid.UUID
    supervisor_role: uuid.UUID

    async def agent(self, *, supervisor: bool = False, teams: tuple[uuid.UUID, ...] = ()) -> str:
        """Create an agent; returns its access token."""
        agent_id = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Agent(
                    id=agent_id,
                    tenant_id=self.id,
                    email=f"{agent_id}@example.com",
                    name="agent",
                    password_hash="x",
                    role_id=self.supervisor_role if supervisor else self.agent_role,
                )
            )
            await session.flush()
            for team in teams:
                session.add(TeamMember(team_id=team, agent_id=agent_id, tenant_id=self.id))
        return issue_access_token(AccessClaims(agent_id, self.id), JWT_SECRET, 3600)

    async def emit(self, audience: list[str], count: int = 1, size: int = 0) -> list[int]:
        """Commit ``count`` events (one transaction each); returns their cursors."""
        seqs = []
        for i in range(count):
            async with self.sessionmaker() as session, session.begin():
                event = await record_event(
                    session, self.id, "test.event", {"i": i, "pad": "x" * size}, audience
                )
            seqs.append(event.seq)
        return seqs


async def create_world(sessionmaker: async_sessionmaker[AsyncSession]) -> TenantWorld:
    """A fresh tenant with an agent role and a supervisor (``inbox:read:all``) role."""
    tenant_id, agent_role, supervisor_role = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    slug = f"t-{secrets.token_hex(4)}"
    async with sessionmaker() as session, session.begin():
        session.add(Tenant(id=tenant_id, slug=slug, name=slug))
        await session.flush()
        session.add(Role(id=agent_role, tenant_id=tenant_id, name="agent", permissions=[]))
        session.add(
            Role(
                id=supervisor_role,
                tenant_id=tenant_id,
                name="supervisor",
                permissions=["inbox:read:all"],
            )
        )
    return TenantWorld(tenant_id, slug, sessionmaker, agent_role, supervisor_role)


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> TenantWorld:
    return await create_world(sessionmaker)


def agent_of(token: str) -> str:
    """The routing key of the agent a test token belongs to."""
    from runtime.domain.security import decode_access_token

    claims = decode_access_token(token, JWT_SECRET)
    assert claims is not None
    return f"agent.{claims.agent_id}"


StartPod = Callable[..., Awaitable[Pod]]


@pytest.fixture
async def pods(pg_url: str, rabbit: tuple[str, BrokerAdmin]) -> AsyncIterator[StartPod]:
    """Start ws pods: ``await pods(mode, **extra_env)``; all are killed at teardown."""
    started: list[Pod] = []

    async def start(mode: Mode, **extra_env: str) -> Pod:
        env = {
            **SECRETS_ENV,
            "SCRM_DATABASE_URL": pg_url,
            "SCRM_AMQP_URL": rabbit[0],
            "SCRM_DELIVERY_MODE": mode,
            **extra_env,
        }
        pod = await start_pod(f"pod-{secrets.token_hex(3)}", env)
        started.append(pod)
        return pod

    yield start
    for pod in started:
        with contextlib.suppress(Exception):
            pod.stop(signal.SIGKILL)


RunRelay = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def relay(
    sessionmaker: async_sessionmaker[AsyncSession], rabbit: tuple[str, BrokerAdmin]
) -> RunRelay:
    """``async with relay(mode[, routed_publish[, pod_map]]) as connection_name:`` runs an
    outbox relay on RabbitMQ. ``pods`` publishing reads the bindings from the management API
    unless given another ``pod_map``; ``tenant=`` reads that tenant's before the first round
    (as a relay running for a while would have them)."""

    @contextlib.asynccontextmanager
    async def run(
        mode: Mode,
        routed_publish: RoutedPublish = "cc",
        pod_map: PodMap | None = None,
        *,
        tenant: str | None = None,
    ) -> AsyncIterator[str]:
        name = f"scrm-relay-{secrets.token_hex(3)}"
        if routed_publish == "pods" and pod_map is None:
            bindings = ManagementPodMap(require_rabbitmq()[1], vhost_of(rabbit[0]))
            if tenant is not None:
                await bindings.refresh(tenant)
            pod_map = bindings
        bus = RabbitBus(
            rabbit[0], mode, connection_name=name, reconnect_interval=0.3,
            routed_publish=routed_publish, pod_map=pod_map,
        )  # fmt: skip
        await bus.start()
        running = OutboxRelay(sessionmaker, bus, poll_interval=0.1).running()
        try:
            await running.__aenter__()
            try:
                yield name
            finally:
                await bounded(running.__aexit__(None, None, None), "the outbox relay's stop")
        finally:
            await bounded(bus.close(), "the relay's bus close")

    return run
