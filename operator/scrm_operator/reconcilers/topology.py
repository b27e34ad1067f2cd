"""The tenant's RabbitMQ objects: vhost, user (generated password in a Secret),
permissions limited to ``scrm.<tenant>.*``, and the exchange of the delivery mode."""

from __future__ import annotations

import secrets
from typing import Any

from runtime.bus import naming
from scrm_operator import names
from scrm_operator.builders.secrets import rabbitmq_secret
from scrm_operator.kube import Kube
from scrm_operator.rabbitmq import EXCHANGE_TYPES, Broker, RabbitAdmin, tenant_pattern
from scrm_operator.spec import TenantSpec


class BrokerSecretMissing(LookupError):
    pass


def broker_for(kube: Kube, namespace: str, secret_name: str) -> Broker:
    data = kube.secret_data(namespace, secret_name)
    if data is None:
        raise BrokerSecretMissing(f"Secret {namespace}/{secret_name} not found")
    return Broker.from_secret(data)


def ensure_topology(kube: Kube, tenant: TenantSpec) -> dict[str, Any]:
    """Idempotent; returns the ``status.rabbitmq`` block."""
    broker = broker_for(kube, tenant.namespace, tenant.rabbitmq_secret)
    vhost = names.vhost(tenant.namespace, tenant.name)
    user = names.rabbitmq_user(tenant.namespace, tenant.name)
    secret_name = names.rabbitmq_secret(tenant.name)
    existing = kube.secret_data(tenant.namespace, secret_name)
    password = existing["password"] if existing else secrets.token_urlsafe(24)
    exchange = naming.exchange_name(tenant.name, tenant.mode)
    with RabbitAdmin(broker) as admin:
        admin.ensure_vhost(vhost)
        admin.ensure_user(user, password)
        admin.grant(vhost, user, tenant_pattern(tenant.name))
        admin.declare_exchange(vhost, exchange, EXCHANGE_TYPES[tenant.mode])
        # After a mode switch the old exchange goes once the last old pod unbound from it.
        for mode in EXCHANGE_TYPES.keys() - {tenant.mode}:
            admin.delete_exchange_if_unused(vhost, naming.exchange_name(tenant.name, mode))
    if existing is None:  # written last: whoever reads the Secret can log in
        url = broker.tenant_amqp_url(user, password, vhost)
        kube.create(rabbitmq_secret(tenant, user, password, vhost, url))
    return {"vhost": vhost, "user": user, "exchange": exchange}


def delete_topology(kube: Kube, namespace: str, tenant: str, secret_name: str) -> None:
    """Remove the vhost (with its queues and exchanges) and the user; 404 counts as done."""
    broker = broker_for(kube, namespace, secret_name)
    with RabbitAdmin(broker) as admin:
        admin.delete_vhost(names.vhost(namespace, tenant))
        admin.delete_user(names.rabbitmq_user(namespace, tenant))
