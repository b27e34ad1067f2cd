"""The ws Deployment, Service and HorizontalPodAutoscaler.

Every ws pod gets its own name as ``POD_NAME`` (Downward API): it names the pod's queue
``scrm.<tenant>.ws.<pod>``, which the operator deletes when the pod goes away.
"""

from __future__ import annotations

from typing import Any

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, metadata, selector_labels
from scrm_operator.builders.pods import container, http_probe, pod_template
from scrm_operator.spec import TenantSpec

COMPONENT = "ws"
CONNECTIONS_METRIC = "scrm_ws_connections"


def ws_deployment(tenant: TenantSpec) -> Manifest:
    main = container(tenant, "ws", ["ws", "--port", str(names.WS_PORT)], tenant.ws_resources)
    main["env"] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        *main["env"],
    ]
    main |= {
        "ports": [{"name": "http", "containerPort": names.WS_PORT}],
        "readinessProbe": http_probe("/healthz", names.WS_PORT, period=5, failures=2),
        "livenessProbe": http_probe("/healthz", names.WS_PORT, period=10, failures=6),
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(tenant, COMPONENT)},
        "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": pod_template(
            tenant,
            COMPONENT,
            [main],
            terminationGracePeriodSeconds=tenant.ws_grace_seconds,
        ),
    }
    if not tenant.autoscaling.enabled:
        spec["replicas"] = tenant.ws_replicas  # with an HPA, the HPA owns the field
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(tenant, names.ws_name(tenant.name), COMPONENT),
        "spec": spec,
    }


def ws_service(tenant: TenantSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(tenant, names.ws_name(tenant.name), COMPONENT),
        "spec": {
            "selector": selector_labels(tenant, COMPONENT),
            "ports": [{"name": "http", "port": names.WS_PORT, "targetPort": "http"}],
        },
    }


def _metric(tenant: TenantSpec) -> dict[str, Any]:
    scaling = tenant.autoscaling
    if scaling.metric == "connections":
        return {
            "type": "Pods",
            "pods": {
                "metric": {"name": CONNECTIONS_METRIC},
                "target": {
                    "type": "AverageValue",
                    "averageValue": str(scaling.target_connections),
                },
            },
        }
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu},
        },
    }


def ws_autoscaler(tenant: TenantSpec) -> Manifest | None:
    """None when autoscaling is disabled (the reconciler deletes a leftover HPA)."""
    scaling = tenant.autoscaling
    if not scaling.enabled:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(tenant, names.ws_name(tenant.name), COMPONENT),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": names.ws_name(tenant.name),
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [_metric(tenant)],
            # Scale down slowly: every removed pod drops sockets that must reconnect.
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                }
            },
        },
    }
