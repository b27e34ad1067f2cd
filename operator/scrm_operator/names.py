"""Names, labels and constants shared by builders and reconcilers (one place, stable)."""

from __future__ import annotations

import hashlib

GROUP = "scrm.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
TENANTS = "scrmtenants"
SENDERS = "senders"
FIELD_MANAGER = "scrm-operator"

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
INSTANCE = "app.kubernetes.io/instance"
MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
VERSION_LABEL = "app.kubernetes.io/version"
TENANT_LABEL = "scrm.io/tenant"
CONFIG_HASH = "scrm.io/config-hash"
CREDENTIALS_HASH = "scrm.io/credentials-hash"
# On a broker Secret while a tenant's vhost and user exist on that broker: deleting the
# namespace cannot take the administrator credentials before the tenant's cleanup used them.
BROKER_FINALIZER = "scrm.io/broker-in-use"

API_PORT = 8000
WS_PORT = 8001

# Labels selecting the ws pods of every tenant; the pod watch of the operator uses them.
WS_POD_LABELS = {PART_OF: "scrm", COMPONENT: "ws"}


def api_name(tenant: str) -> str:
    return f"{tenant}-api"


def ws_name(tenant: str) -> str:
    return f"{tenant}-ws"


def sender_worker_name(tenant: str) -> str:
    return f"{tenant}-sender-worker"


def config_name(tenant: str) -> str:
    return f"{tenant}-config"


def runtime_account(tenant: str) -> str:
    return f"{tenant}-runtime"


def generated_secret(tenant: str) -> str:
    """Secret with the runtime's generated keys (JWT, encryption, internal token)."""
    return f"{tenant}-keys"


def rabbitmq_secret(tenant: str) -> str:
    """Secret with the tenant's own AMQP URL (user, generated password, vhost)."""
    return f"{tenant}-rabbitmq"


def database_secret(tenant: str) -> str:
    """Secret with the URL of a database the operator created on a shared server."""
    return f"{tenant}-database"


def migration_job(tenant: str, spec_digest: str) -> str:
    return f"{tenant}-migrate-{spec_digest}"


class NameClash(RuntimeError):
    """A broker or database object the tenant would use belongs to someone else."""


def owner_tag(namespace: str, tenant: str) -> str:
    """Written on the broker and database objects a tenant owns (vhost description, role
    comment); an object with another tag is never taken over."""
    return f"scrm tenant {namespace}/{tenant}"


def external_name(namespace: str, tenant: str, limit: int = 63) -> str:
    """The tenant's vhost, broker user, database and role name: ``scrm.<ns>.<tenant>``.

    Namespaces and tenant names are DNS labels (no dots), so the dots make the name
    unambiguous: ``team-a``/``x`` and ``team``/``a-x`` differ. A name longer than ``limit``
    (PostgreSQL keeps 63 bytes) is shortened and gets a hash of the full pair, and a fourth
    dot-separated part, so it cannot equal any unshortened name."""
    full = f"scrm.{namespace}.{tenant}"
    if len(full) <= limit:
        return full
    tail = hashlib.sha256(f"{namespace}/{tenant}".encode()).hexdigest()[:12]
    room = (limit - len("scrm...") - len(tail)) // 2
    return f"scrm.{namespace[:room]}.{tenant[:room]}.{tail}"
