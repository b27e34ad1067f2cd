"""Sample ScrmTenant/Sender bodies shared by unit and e2e tests."""

from __future__ import annotations

import copy
from typing import Any

TENANT_SPEC: dict[str, Any] = {
    "displayName": "Acme Indonesia",
    "defaultPhoneRegion": "ID",
    "image": {"repository": "registry.example/scrm", "tag": "1.2.3", "pullPolicy": "IfNotPresent"},
    "deliveryMode": "fanout",
    "api": {"replicas": 2, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}},
    "ws": {
        "replicas": 2,
        "terminationGracePeriodSeconds": 60,
        "autoscaling": {
            "enabled": True,
            "minReplicas": 2,
            "maxReplicas": 10,
            "metric": "cpu",
            "targetCPUUtilizationPercentage": 70,
            "targetConnectionsPerPod": 2000,
        },
    },
    "database": {"urlSecretRef": {"name": "acme-db", "key": "url"}},
    "rabbitmq": {"secretRef": {"name": "acme-rabbitmq-admin"}},
    "whatsapp": {
        "appSecretRef": {"name": "acme-whatsapp", "key": "appSecret"},
        "verifyTokenRef": {"name": "acme-whatsapp", "key": "verifyToken"},
        "graphBaseUrl": "https://graph.facebook.com",
        "graphApiVersion": "v25.0",
    },
}


def tenant_body(name: str = "acme", namespace: str = "sales", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "scrm.io/v1alpha1",
        "kind": "ScrmTenant",
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-1", "generation": 1},
        "spec": copy.deepcopy(TENANT_SPEC) | spec,
    }
