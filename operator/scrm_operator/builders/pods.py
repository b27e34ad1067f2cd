"""Pod template pieces shared by the api, ws and migration workloads."""

from __future__ import annotations

from typing import Any

from scrm_operator import names
from scrm_operator.builders.config import (
    config_data,
    env_from,
    media_credentials_env,
    runtime_env,
)
from scrm_operator.builders.meta import digest, labels
from scrm_operator.spec import TenantSpec

CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def http_probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def container(
    tenant: TenantSpec,
    name: str,
    args: list[str],
    resources: dict[str, Any],
    *,
    keeps_media: bool = False,
) -> dict[str, Any]:
    """``keeps_media``: the process reads and writes media files (api, sender-worker), so
    it gets the media store's credentials (ws and the migration do not)."""
    env = runtime_env(tenant) + (media_credentials_env(tenant) if keeps_media else [])
    return {
        "name": name,
        "image": tenant.image_ref,
        "imagePullPolicy": tenant.pull_policy,
        "args": args,
        "envFrom": env_from(tenant),
        "env": env,
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def pod_template(
    tenant: TenantSpec,
    component: str,
    containers: list[dict[str, Any]],
    *,
    rolls_with_credentials: bool = True,
    **spec: Any,
) -> dict[str, Any]:
    """The config checksum annotation rolls the pods when the ConfigMap changes, the
    credentials checksum when a generated Secret is regenerated (not for a Job, whose
    template is immutable and named by its spec)."""
    annotations = {names.CONFIG_HASH: digest(config_data(tenant))}
    if rolls_with_credentials and tenant.credentials_hash:
        annotations[names.CREDENTIALS_HASH] = tenant.credentials_hash
    return {
        "metadata": {"labels": labels(tenant, component), "annotations": annotations},
        "spec": {
            "serviceAccountName": names.runtime_account(tenant.name),
            "automountServiceAccountToken": False,
            "securityContext": POD_SECURITY,
            "containers": containers,
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            **spec,
        },
    }
