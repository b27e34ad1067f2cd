"""The tenant's RabbitMQ objects: vhost, user (generated password in a Secret),
permissions limited to ``scrm.<tenant>.*``, and the exchange of the delivery mode."""

from __future__ import annotations

import secrets
from collections.abc import Collection
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
    """Idempotent; returns the ``status.rabbitmq`` block.

    The ``<t>-rabbitmq`` Secret records the broker Secret it was made on: when the spec
    names another one, the same vhost and user are declared on the new broker, removed from
    the old one (unless both Secrets reach the same broker), and the AMQP URL is rewritten
    last, which rolls the pods onto the new broker (credentials checksum)."""
    broker = broker_for(kube, tenant.namespace, tenant.rabbitmq_secret)
    existing = kube.secret_data(tenant.namespace, names.rabbitmq_secret(tenant.name))
    if existing:  # names recorded when the tenant was created are kept
        vhost, user, password = existing["vhost"], existing["user"], existing["password"]
    else:
        vhost = user = names.external_name(tenant.namespace, tenant.name)
        password = secrets.token_urlsafe(24)
    exchange = naming.exchange_name(tenant.name, tenant.mode)
    hold_broker_secret(kube, tenant.namespace, tenant.rabbitmq_secret)
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
        cluster = admin.cluster_name()
    url = broker.tenant_amqp_url(user, password, vhost)
    record = {"brokerSecret": tenant.rabbitmq_secret, "amqpUrl": url}
    if existing is None:  # written last: whoever reads the Secret can log in
        kube.create(rabbitmq_secret(tenant, user, password, vhost, url, tenant.rabbitmq_secret))
    elif any(existing.get(key) != value for key, value in record.items()):
        previous = existing.get("brokerSecret", tenant.rabbitmq_secret)
        if previous != tenant.rabbitmq_secret:
            _leave_broker(kube, tenant, previous, (vhost, user), cluster)
        secret = names.rabbitmq_secret(tenant.name)
        kube.merge_patch("v1", "Secret", tenant.namespace, secret, {"stringData": record})
    return {"vhost": vhost, "user": user, "exchange": exchange}


def _leave_broker(
    kube: Kube, tenant: TenantSpec, secret: str, vhost_and_user: tuple[str, str], staying_on: str
) -> None:
    """Remove the tenant's vhost and user from the broker it moved away from (not when that
    is the cluster ``staying_on``: two Secrets for one broker)."""
    old = kube.secret_data(tenant.namespace, secret)
    if old is not None:
        with RabbitAdmin(Broker.from_secret(old)) as admin:
            if admin.cluster_name() != staying_on:
                _drop(admin, tenant.namespace, tenant.name, *vhost_and_user)
    release_broker_secret(kube, tenant.namespace, secret, finished=())


def hold_broker_secret(kube: Kube, namespace: str, secret: str) -> None:
    """Keep the broker Secret (its administrator) until the tenant's objects are removed."""
    kube.add_finalizer("v1", "Secret", namespace, secret, names.BROKER_FINALIZER)


def release_broker_secret(
    kube: Kube, namespace: str, secret: str, finished: Collection[str]
) -> None:
    """Let the broker Secret go once no tenant that still needs it refers to it; tenants
    in ``finished`` (uids) have removed their broker objects already."""
    tenants = kube.list(names.API_VERSION, "ScrmTenant", namespace, "")
    if not any(
        t["spec"]["rabbitmq"]["secretRef"]["name"] == secret
        and t["metadata"]["uid"] not in finished
        for t in tenants
    ):
        kube.remove_finalizer("v1", "Secret", namespace, secret, names.BROKER_FINALIZER)


def _claim_vhost(
    admin: RabbitAdmin, vhost: str, owner: str, recorded: dict[str, str] | None
) -> None:
    """Create the vhost tagged with its owner, or confirm an existing one is this tenant's."""
    found = admin.vhost_description(vhost)
    ours = found in (None, owner) or (recorded is not None and found == LEGACY_DESCRIPTION)
    if not ours:
        raise names.NameClash(f"RabbitMQ vhost {vhost!r} exists and is another's ({found!r})")
    admin.ensure_vhost(vhost, owner)


def delete_topology(kube: Kube, namespace: str, tenant: str, secret: str) -> list[str]:
    """Remove the tenant's vhost (with its queues and exchanges) and user from its broker,
    and from the one it was moving away from if any; 404 counts as done. A vhost tagged with
    another owner is left alone. Returns the broker Secrets used."""
    recorded = kube.secret_data(namespace, names.rabbitmq_secret(tenant))
    vhost = user = names.external_name(namespace, tenant)
    secrets_used = [secret]
    if recorded:
        vhost, user = recorded["vhost"], recorded["user"]
        secrets_used += [recorded.get("brokerSecret", secret)]
    for name in dict.fromkeys(secrets_used):
        with RabbitAdmin(broker_for(kube, namespace, name)) as admin:
            _drop(admin, namespace, tenant, vhost, user)
    return list(dict.fromkeys(secrets_used))


def _drop(admin: RabbitAdmin, namespace: str, tenant: str, vhost: str, user: str) -> None:
    """Delete the vhost and user unless the vhost is tagged as another's."""
    if admin.vhost_description(vhost) not in (
        names.owner_tag(namespace, tenant),
        LEGACY_DESCRIPTION,
        None,
    ):
        return
    admin.delete_vhost(vhost)
    admin.delete_user(user)
