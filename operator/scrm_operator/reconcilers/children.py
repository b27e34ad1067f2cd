"""Apply the tenant's children, delete the ones the spec no longer wants, and summarise
their readiness."""

from __future__ import annotations

from typing import Any

from scrm_operator import names
from scrm_operator.builders.migration import migration_job_name
from scrm_operator.builders.tenant import children, optional_children
from scrm_operator.conditions import Condition
from scrm_operator.kube import Kube, Manifest
from scrm_operator.spec import TenantSpec


def deployment_summary(deployment: Manifest) -> dict[str, Any]:
    status = deployment.get("status") or {}
    wanted = deployment["spec"].get("replicas", 1)
    available = status.get("availableReplicas", 0)
    return {
        "replicas": wanted,
        "readyReplicas": status.get("readyReplicas", 0),
        "availableReplicas": available,
        "updatedReplicas": status.get("updatedReplicas", 0),
        "ready": available >= wanted
        and status.get("observedGeneration", 0) >= deployment["metadata"]["generation"],
    }


def job_summary(job: Manifest) -> dict[str, Any]:
    status = job.get("status") or {}
    return {
        "name": job["metadata"]["name"],
        "succeeded": status.get("succeeded", 0) > 0,
        "failed": status.get("failed", 0),
    }


def readiness(summary: dict[str, Any]) -> Condition:
    """Ready once the migration finished and the Deployments are available."""
    waiting = [
        name
        for name, ready in (
            ("migration", summary["migration"]["succeeded"]),
            ("api", summary["api"]["ready"]),
            ("ws", summary["ws"]["ready"]),
            ("sender-worker", summary["senderWorker"]["ready"]),
        )
        if not ready
    ]
    if not waiting:
        return Condition("True", "Available", "api, ws and sender-worker are available")
    return Condition("False", "Progressing", "waiting for " + ", ".join(waiting))


def apply_children(kube: Kube, tenant: TenantSpec) -> dict[str, Any]:
    """Server-side apply everything; returns the ``status.children`` block."""
    applied = {(m["kind"], m["metadata"]["name"]): kube.apply(m) for m in children(tenant)}
    for child in optional_children(tenant):
        if child.manifest is None:
            kube.delete(child.api_version, child.kind, tenant.namespace, child.name)
        else:
            kube.apply(child.manifest)
    _prune_old_migrations(kube, tenant)
    return {
        "api": deployment_summary(applied["Deployment", names.api_name(tenant.name)]),
        "ws": deployment_summary(applied["Deployment", names.ws_name(tenant.name)]),
        "senderWorker": deployment_summary(
            applied["Deployment", names.sender_worker_name(tenant.name)]
        ),
        "migration": job_summary(applied["Job", migration_job_name(tenant)]),
    }


def _prune_old_migrations(kube: Kube, tenant: TenantSpec) -> None:
    selector = f"{names.TENANT_LABEL}={tenant.name},{names.COMPONENT}=migrate"
    current = migration_job_name(tenant)
    for job in kube.list("batch/v1", "Job", tenant.namespace, selector):
        if job["metadata"]["name"] != current:
            kube.delete("batch/v1", "Job", tenant.namespace, job["metadata"]["name"])
