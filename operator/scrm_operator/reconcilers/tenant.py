"""One level-based pass over a tenant: keys, database, RabbitMQ, children, readiness."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import httpx
from kubernetes.client.exceptions import ApiException

from scrm_operator import names
from scrm_operator.builders.meta import digest
from scrm_operator.conditions import Condition, Outcome
from scrm_operator.kube import Kube
from scrm_operator.policy import Policy, PolicyViolation
from scrm_operator.rabbitmq import RabbitError
from scrm_operator.reconcilers.children import apply_children
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


def reconcile_tenant(kube: Kube, tenant: TenantSpec, policy: Policy) -> Outcome:
    """The spec's own checks and the allow-lists first: a refused spec changes nothing (no
    pod runs its image)."""
    fields: dict[str, Any] = {"endpoints": endpoints(tenant)}
    try:
        tenant.media.check()
        policy.check(tenant)
        ensure_runtime_keys(kube, tenant)
        if tenant.shared_database is not None:
            ensure_shared_database(kube, tenant)
        fields["rabbitmq"] = ensure_topology(kube, tenant)
        tenant = with_credentials(kube, tenant)
    except Exception as exc:  # every cause ends in the Ready condition, named
        return Outcome(Condition("False", _failure_reason(exc), _text(exc)), fields, retry=True)
    applied = apply_children(kube, tenant)
    fields["children"] = applied.summary
    condition = applied.condition()
    return Outcome(condition, fields, retry=condition.reason.startswith("Failed"))


def with_credentials(kube: Kube, tenant: TenantSpec) -> TenantSpec:
    """The spec plus the hash of the generated Secrets its pods read."""
    generated = (names.generated_secret, names.rabbitmq_secret, names.database_secret)
    data = {
        name(tenant.name): kube.secret_data(tenant.namespace, name(tenant.name))
        for name in generated
    }
    return replace(tenant, credentials_hash=digest(data))


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, PolicyViolation):
        return exc.reason
    if isinstance(exc, names.NameClash):
        return "FailedNameClash"
    if isinstance(exc, BrokerSecretMissing | AdminSecretMissing | ValueError | KeyError):
        return "FailedConfiguration"
    if isinstance(exc, RabbitError):
        return "FailedRabbitMQ"
    if isinstance(exc, asyncpg.PostgresError):
        return "FailedDatabase"
    if isinstance(exc, OSError | httpx.HTTPError | asyncpg.InterfaceError):
        return "FailedConnection"
    if isinstance(exc, ApiException):
        return "FailedKubernetesAPI"
    return "FailedUnexpected"


def _text(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
