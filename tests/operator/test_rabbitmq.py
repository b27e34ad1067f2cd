"""RabbitAdmin against the real broker: topology, queue deletion, idempotent cleanup."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from scrm_operator.rabbitmq import Broker, RabbitAdmin, tenant_pattern

from tests.services import require_rabbitmq

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def admin() -> Iterator[tuple[RabbitAdmin, Broker]]:
    amqp_url, api_url = require_rabbitmq()
    broker = Broker.from_secret({"managementUrl": api_url, "amqpUrl": amqp_url})
    with RabbitAdmin(broker) as admin:
        yield admin, broker


def test_topology_is_idempotent_and_cleanup_treats_404_as_done(
    admin: tuple[RabbitAdmin, Broker],
) -> None:
    rabbit, broker = admin
    vhost = user = f"scrm-test-{secrets.token_hex(3)}"
    for _ in range(2):
        rabbit.ensure_vhost(vhost, "scrm tenant test")
        rabbit.ensure_user(user, "pw-1")
        rabbit.grant(vhost, user, tenant_pattern("acme"))
        rabbit.declare_exchange(vhost, "scrm.acme.fanout", "fanout")
    assert "scrm.acme.fanout" in rabbit.exchanges(vhost)
    auth = (broker.username, broker.password)
    perms = httpx.get(f"{broker.management_url}/api/permissions/{vhost}/{user}", auth=auth).json()
    assert perms["configure"] == r"^scrm\.acme\."
    rabbit.delete_exchange_if_unused(vhost, "scrm.acme.fanout")
    assert "scrm.acme.fanout" not in rabbit.exchanges(vhost)
    assert rabbit.delete_queue(vhost, "scrm.acme.ws.nobody") is False
    assert rabbit.delete_vhost(vhost) is True
    assert rabbit.delete_vhost(vhost) is False
    assert rabbit.delete_user(user) is True
    assert rabbit.delete_user(user) is False
    assert rabbit.queues(vhost) == []
