"""All desired children of a tenant, in apply order, and the kinds that may be pruned."""

from __future__ import annotations

from dataclasses import dataclass

from scrm_operator import names
from scrm_operator.builders.api import api_deployment, api_service
from scrm_operator.builders.config import config_map
from scrm_operator.builders.ingress import ingress
from scrm_operator.builders.meta import Manifest
from scrm_operator.builders.migration import migration_job
from scrm_operator.builders.security import network_policy, service_account
from scrm_operator.builders.sender_worker import sender_worker_deployment
from scrm_operator.builders.ws import ws_autoscaler, ws_deployment, ws_service
from scrm_operator.spec import TenantSpec


@dataclass(frozen=True)
class OptionalChild:
    """A child that exists only for some specs; absent means delete it if present."""

    api_version: str
    kind: str
    name: str
    manifest: Manifest | None


def children(tenant: TenantSpec) -> list[Manifest]:
    """Children that always exist; the ConfigMap and ServiceAccount first."""
    return [
        config_map(tenant),
        service_account(tenant),
        network_policy(tenant),
        migration_job(tenant),
        api_service(tenant),
        api_deployment(tenant),
        ws_service(tenant),
        ws_deployment(tenant),
        sender_worker_deployment(tenant),
    ]


def optional_children(tenant: TenantSpec) -> list[OptionalChild]:
    return [
        OptionalChild(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            names.ws_name(tenant.name),
            ws_autoscaler(tenant),
        ),
        OptionalChild("networking.k8s.io/v1", "Ingress", tenant.name, ingress(tenant)),
    ]
