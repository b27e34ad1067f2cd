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


# What the operator wrote on vhosts before it recorded their owner: such a vhost, named in
# the tenant's own Secret, is this tenant's (it is re-tagged on the next pass).
LEGACY_DESCRIPTION = "scrm tenant"


def broker_for(kube: Kube, namespace: str, secret_name: str) -> Broker:
    data = kube.secret_data(namespace, secret_name)
    if data is None:
        raise BrokerSecretMissing(f"Secret {namespace}/{secret_name} not found")
    return Broker.from_secret(data)


def ensure_topology(kube: Kube, tenant: TenantSpec) -> dict[str, Any]:
    """Idempotent; returns the ``status.rabbitmq`` block."""
    broker = broker_for(kube, tenant.namespace, tenant.rabbitmq_secret)
    existing = kube.secret_data(tenant.namespace, names.rabbitmq_secret(tenant.name))
    if existing:  # names recorded when the tenant was created are kept
        vhost, user, password = existing["vhost"], existing["user"], existing["password"]
    else:
        vhost = user = names.external_name(tenant.namespace, tenant.name)
        password = secrets.token_urlsafe(24)
    exchange = naming.exchange_name(tenant.name, tenant.mode)
    with RabbitAdmin(broker) as admin:
        _claim_vhost(admin, vhost, names.owner_tag(tenant.namespace, tenant.name), existing)
        # The operator's own user may be a different administrator than the one that
        # created the vhost (rotation): grant it before declaring anything.
        admin.grant(vhost, broker.username, ".*")
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


def _claim_vhost(
    admin: RabbitAdmin, vhost: str, owner: str, recorded: dict[str, str] | None
) -> None:
    """Create the vhost tagged with its owner, or confirm an existing one is this tenant's."""
    found = admin.vhost_description(vhost)
    ours = found in (None, owner) or (recorded is not None and found == LEGACY_DESCRIPTION)
    if not ours:
        raise names.NameClash(f"RabbitMQ vhost {vhost!r} exists and is another's ({found!r})")
    admin.ensure_vhost(vhost, owner)


def delete_topology(kube: Kube, namespace: str, tenant: str, secret_name: str) -> None:
    """Remove the tenant's vhost (with its queues and exchanges) and user; 404 counts as
    done. A vhost tagged with another owner is left alone."""
    broker = broker_for(kube, namespace, secret_name)
    recorded = kube.secret_data(namespace, names.rabbitmq_secret(tenant))
    vhost = user = names.external_name(namespace, tenant)
    if recorded:
        vhost, user = recorded["vhost"], recorded["user"]
    owner = names.owner_tag(namespace, tenant)
    with RabbitAdmin(broker) as admin:
        if admin.vhost_description(vhost) not in (owner, LEGACY_DESCRIPTION, None):
            return
        admin.delete_vhost(vhost)
        admin.delete_user(user)
