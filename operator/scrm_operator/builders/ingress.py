"""The optional Ingress: ``/ws`` to the ws Service, everything else to the api."""

from __future__ import annotations

from typing import Any

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, metadata
from scrm_operator.spec import TenantSpec


def _path(path: str, service: str, port: int) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": port}}},
    }


def ingress(tenant: TenantSpec) -> Manifest | None:
    if tenant.ingress is None:
        return None
    host = tenant.ingress["host"]
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        _path("/ws", names.ws_name(tenant.name), names.WS_PORT),
                        _path("/", names.api_name(tenant.name), names.API_PORT),
                    ]
                },
            }
        ]
    }
    if class_name := tenant.ingress.get("className"):
        spec["ingressClassName"] = class_name
    if tls := tenant.ingress.get("tlsSecretName"):
        spec["tls"] = [{"hosts": [host], "secretName": tls}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(tenant, tenant.name, "ingress"),
        "spec": spec,
    }
