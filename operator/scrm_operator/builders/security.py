"""The runtime's ServiceAccount (no API access) and NetworkPolicy."""

from __future__ import annotations

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, metadata
from scrm_operator.spec import TenantSpec


def service_account(tenant: TenantSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(tenant, names.runtime_account(tenant.name), "runtime"),
        "automountServiceAccountToken": False,
    }


def network_policy(tenant: TenantSpec) -> Manifest:
    """Only the HTTP ports of the tenant's api and ws pods accept connections."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(tenant, f"{tenant.name}-runtime", "runtime"),
        "spec": {
            "podSelector": {"matchLabels": {names.TENANT_LABEL: tenant.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "ports": [
                        {"protocol": "TCP", "port": names.API_PORT},
                        {"protocol": "TCP", "port": names.WS_PORT},
                    ]
                }
            ],
        },
    }
