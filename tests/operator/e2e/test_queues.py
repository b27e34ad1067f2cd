"""Per-pod queue lifecycle with real ws processes: a ws Pod object (never scheduled) whose
queue was declared by ``python -m runtime.ws`` running locally with ``POD_NAME``; deleting
the Pod deletes the queue; orphans are collected."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import pytest
from cryptography.fernet import Fernet
from scrm_operator import names
from scrm_operator.rabbitmq import Broker, RabbitAdmin

from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.security import AccessClaims, issue_access_token
from runtime.models import Agent, Role, Tenant
from tests.operator.e2e.harness import Cluster, Operator, eventually, tenant_manifest
from tests.realtime.stack import connect, start_pod
from tests.services import require_postgres, require_rabbitmq
from tests.support import postgres_database

JWT_SECRET = secrets.token_urlsafe(32)
QUEUE_GONE_WITHIN = 2.0


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database(require_postgres(), "scrm_op") as url:
        yield url


async def agent_token(database: str, slug: str) -> str:
    """A tenant row with the CR's name as slug, and one agent; returns its access token."""
    engine = make_engine(database)
    tenant_id, role_id, agent_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add(Tenant(id=tenant_id, slug=slug, name=slug))
        await session.flush()
        session.add(Role(id=role_id, tenant_id=tenant_id, name="agent", permissions=[]))
        await session.flush()
        session.add(
            Agent(
                id=agent_id,
                tenant_id=tenant_id,
                email=f"{agent_id}@example.com",
                name="agent",
                password_hash="x",
                role_id=role_id,
            )
        )
    await engine.dispose()
    return issue_access_token(AccessClaims(agent_id, tenant_id), JWT_SECRET, 3600)


def ws_pod(namespace: str, tenant: str, name: str) -> dict[str, Any]:
    """What the ws Deployment would create, minus a node: it is never scheduled."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**names.WS_POD_LABELS, names.TENANT_LABEL: tenant},
        },
        "spec": {"containers": [{"name": "ws", "image": "registry.example/scrm:1"}]},
    }


@pytest.fixture
async def tenant(
    operator: Operator, cluster: Cluster, namespace: str
) -> AsyncIterator[tuple[str, str, RabbitAdmin]]:
    """(tenant name, its AMQP URL, admin) once the operator set up its vhost and user."""
    t = f"q-{secrets.token_hex(3)}"
    cluster.create(tenant_manifest(namespace, t))
    secret = await asyncio.to_thread(
        eventually,
        lambda: cluster.kube.secret_data(namespace, f"{t}-rabbitmq"),
        "the tenant's RabbitMQ secret",
    )
    amqp_url, api_url = require_rabbitmq()
    with RabbitAdmin(Broker.from_secret({"managementUrl": api_url, "amqpUrl": amqp_url})) as a:
        yield t, secret["amqpUrl"], a


def queue_names(admin: RabbitAdmin, vhost: str) -> set[str]:
    return {q["name"] for q in admin.queues(vhost)}


async def test_deleting_a_ws_pod_deletes_its_queue_within_2s(
    cluster: Cluster, namespace: str, database: str, tenant: tuple[str, str, RabbitAdmin]
) -> None:
    t, amqp_url, admin = tenant
    vhost, pod_name = names.external_name(namespace, t), f"{t}-ws-{secrets.token_hex(3)}"
    queue = f"scrm.{t}.ws.{pod_name}"
    token = await agent_token(database, t)
    cluster.create(ws_pod(namespace, t, pod_name))
    env = {
        "SCRM_JWT_SECRET": JWT_SECRET,
        "SCRM_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SCRM_WHATSAPP_APP_SECRET": "app-secret",
        "SCRM_WHATSAPP_VERIFY_TOKEN": "verify",
        "SCRM_DATABASE_URL": database,
        "SCRM_AMQP_URL": amqp_url,  # the operator's generated tenant user
        "SCRM_DELIVERY_MODE": "fanout",
    }
    pod = await start_pod(pod_name, env)
    try:
        client = await connect(pod.ws_url, token)  # the first agent makes the pod declare
        await asyncio.to_thread(
            eventually, lambda: queue in queue_names(admin, vhost), "the pod's queue"
        )

        assert cluster.kube.delete("v1", "Pod", namespace, pod_name)
        started = time.monotonic()
        await asyncio.to_thread(
            eventually,
            lambda: queue not in queue_names(admin, vhost),
            "the queue to be deleted",
            QUEUE_GONE_WITHIN,
        )
        assert time.monotonic() - started < QUEUE_GONE_WITHIN
        await client.ws.close()
    finally:
        pod.stop(signal.SIGTERM)


async def declare(amqp_url: str, *queues: str) -> None:
    """Declare queues the way a pod does (durable, x-expires), then go away."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.declare_queue(name, durable=True, arguments={"x-expires": 1_800_000})


async def test_orphan_queues_are_collected_and_live_pods_keep_theirs(
    operator: Operator, cluster: Cluster, namespace: str, tenant: tuple[str, str, RabbitAdmin]
) -> None:
    t, amqp_url, admin = tenant
    vhost = names.external_name(namespace, t)
    live, ghost, missed = f"{t}-ws-live", f"{t}-ws-ghost", f"{t}-ws-missed"
    cluster.create(ws_pod(namespace, t, live))
    cluster.create(ws_pod(namespace, t, missed))
    await declare(amqp_url, *(f"scrm.{t}.ws.{p}" for p in (live, ghost, missed)))

    # A pod deleted while the operator is down: its DELETED event is never seen.
    operator.stop()
    assert cluster.kube.delete("v1", "Pod", namespace, missed)
    operator.start()

    await asyncio.to_thread(
        eventually,
        lambda: not queue_names(admin, vhost) & {f"scrm.{t}.ws.{ghost}", f"scrm.{t}.ws.{missed}"},
        "the orphan queues to be collected",
    )
    assert f"scrm.{t}.ws.{live}" in queue_names(admin, vhost)
