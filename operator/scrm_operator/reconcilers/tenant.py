"""One level-based pass over a tenant: keys, database, RabbitMQ, children, readiness."""

from __future__ import annotations

from typing import Any

from scrm_operator import names
from scrm_operator.conditions import Condition, Outcome
from scrm_operator.kube import Kube
from scrm_operator.rabbitmq import RabbitError
from scrm_operator.reconcilers.children import apply_children, readiness
from scrm_operator.reconcilers.database import AdminSecretMissing, ensure_shared_database
from scrm_operator.reconcilers.keys import ensure_runtime_keys
from scrm_operator.reconcilers.topology import BrokerSecretMissing, ensure_topology
from scrm_operator.spec import TenantSpec


def endpoints(tenant: TenantSpec) -> dict[str, str]:
    svc = f"{tenant.namespace}.svc"
    return {
        "api": f"http://{names.api_name(tenant.name)}.{svc}:{names.API_PORT}",
        "ws": f"ws://{names.ws_name(tenant.name)}.{svc}:{names.WS_PORT}/ws",
    }


def reconcile_tenant(kube: Kube, tenant: TenantSpec) -> Outcome:
    fields: dict[str, Any] = {"endpoints": endpoints(tenant)}
    try:
        ensure_runtime_keys(kube, tenant)
        if tenant.shared_database is not None:
            ensure_shared_database(kube, tenant)
        fields["rabbitmq"] = ensure_topology(kube, tenant)
    except (BrokerSecretMissing, AdminSecretMissing, ValueError) as exc:
        return Outcome(Condition("False", "FailedConfiguration", str(exc)), fields, retry=True)
    except (RabbitError, OSError) as exc:
        reason = "FailedRabbitMQ" if isinstance(exc, RabbitError) else "FailedConnection"
        return Outcome(Condition("False", reason, str(exc)[:500]), fields, retry=True)
    fields["children"] = apply_children(kube, tenant)
    return Outcome(readiness(fields["children"]), fields, retry=False)
