"""Names, labels and constants shared by builders and reconcilers (one place, stable)."""

from __future__ import annotations

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


def migration_job(tenant: str, image_digest: str) -> str:
    return f"{tenant}-migrate-{image_digest}"


def vhost(namespace: str, tenant: str) -> str:
    return f"scrm-{namespace}-{tenant}"


def rabbitmq_user(namespace: str, tenant: str) -> str:
    return f"scrm-{namespace}-{tenant}"


def database_identifier(namespace: str, tenant: str) -> str:
    """PostgreSQL database and role name on a shared server."""
    return f"scrm_{namespace}_{tenant}".replace("-", "_")
