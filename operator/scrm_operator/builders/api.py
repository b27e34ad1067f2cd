"""The api Deployment and Service."""

from __future__ import annotations

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, metadata, selector_labels
from scrm_operator.builders.pods import container, http_probe, pod_template
from scrm_operator.spec import TenantSpec

COMPONENT = "api"


def api_deployment(tenant: TenantSpec) -> Manifest:
    args = ["api", "--port", str(names.API_PORT)]
    main = container(tenant, "api", args, tenant.api_resources, keeps_media=True) | {
        "ports": [{"name": "http", "containerPort": names.API_PORT}],
        "readinessProbe": http_probe("/readyz", names.API_PORT, period=5, failures=3),
        "livenessProbe": http_probe("/healthz", names.API_PORT, period=10, failures=6),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(tenant, names.api_name(tenant.name), COMPONENT),
        "spec": {
            "replicas": tenant.api_replicas,
            "selector": {"matchLabels": selector_labels(tenant, COMPONENT)},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": pod_template(tenant, COMPONENT, [main], terminationGracePeriodSeconds=30),
        },
    }


def api_service(tenant: TenantSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(tenant, names.api_name(tenant.name), COMPONENT),
        "spec": {
            "selector": selector_labels(tenant, COMPONENT),
            "ports": [{"name": "http", "port": names.API_PORT, "targetPort": "http"}],
        },
    }
