"""Apply the tenant's children, delete the ones the spec no longer wants, and summarise
their readiness."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from scrm_operator import names
from scrm_operator.builders.migration import migration_job_name
from scrm_operator.builders.tenant import OptionalChild, children, optional_children
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
            ("migration", (summary.get("migration") or {}).get("succeeded")),
            ("api", (summary.get("api") or {}).get("ready")),
            ("ws", (summary.get("ws") or {}).get("ready")),
            ("sender-worker", (summary.get("senderWorker") or {}).get("ready")),
        )
        if not ready
    ]
    if not waiting:
        return Condition("True", "Available", "api, ws and sender-worker are available")
    return Condition("False", "Progressing", "waiting for " + ", ".join(waiting))


class NotOurs(Exception):
    """An object with a child's name exists and is not controlled by this tenant."""


@dataclass
class Applied:
    """What one pass over the children did: their summaries and what failed, by child."""

    summary: dict[str, Any] = field(default_factory=dict)
    not_ours: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def condition(self) -> Condition:
        if self.not_ours:
            return Condition(
                "False",
                "FailedOwnership",
                "not controlled by this ScrmTenant, left untouched (rename or delete them): "
                + ", ".join(self.not_ours),
            )
        if self.failed:
            return Condition("False", "FailedApply", "; ".join(self.failed)[:1000])
        return readiness(self.summary)


def controlled_by(child: Manifest, uid: str) -> bool:
    return any(
        ref.get("controller") and ref.get("uid") == uid
        for ref in child["metadata"].get("ownerReferences") or []
    )


def _api_error(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return f"HTTP {exc.status} {exc.reason}"


class _Pass:
    """Applies children one by one: a failing or foreign child does not stop the others."""

    def __init__(self, kube: Kube, tenant: TenantSpec) -> None:
        self.kube, self.tenant, self.result = kube, tenant, Applied()

    def _guard(self, api_version: str, kind: str, name: str) -> bool:
        existing = self.kube.get(api_version, kind, self.tenant.namespace, name)
        if existing is not None and not controlled_by(existing, self.tenant.uid):
            self.result.not_ours.append(f"{kind}/{name}")
            return False
        return True

    def apply(self, manifest: Manifest) -> Manifest | None:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        try:
            if self._guard(manifest["apiVersion"], kind, name):
                return self.kube.apply(manifest)
        except ApiException as exc:
            self.result.failed.append(f"{kind}/{name}: {_api_error(exc)}")
        return None

    def delete(self, child: OptionalChild) -> None:
        try:
            if self._guard(child.api_version, child.kind, child.name):
                self.kube.delete(child.api_version, child.kind, self.tenant.namespace, child.name)
        except ApiException as exc:
            self.result.failed.append(f"{child.kind}/{child.name}: {_api_error(exc)}")


def apply_children(kube: Kube, tenant: TenantSpec) -> Applied:
    """Server-side apply everything this tenant controls; ``summary`` is ``status.children``."""
    one_pass = _Pass(kube, tenant)
    applied = {(m["kind"], m["metadata"]["name"]): one_pass.apply(m) for m in children(tenant)}
    for child in optional_children(tenant):
        if child.manifest is None:
            one_pass.delete(child)
        else:
            one_pass.apply(child.manifest)
    result = one_pass.result
    api = applied["Deployment", names.api_name(tenant.name)]
    ws = applied["Deployment", names.ws_name(tenant.name)]
    workers = applied["Deployment", names.sender_worker_name(tenant.name)]
    job = applied["Job", migration_job_name(tenant)]
    result.summary = {
        "api": deployment_summary(api) if api else None,
        "ws": deployment_summary(ws) if ws else None,
        "senderWorker": deployment_summary(workers) if workers else None,
        "migration": job_summary(job) if job else None,
    }
    if job is not None:
        _prune_old_migrations(kube, tenant)
    return result


def _prune_old_migrations(kube: Kube, tenant: TenantSpec) -> None:
    """Jobs of earlier specs go once the current one exists (only this tenant's)."""
    selector = f"{names.TENANT_LABEL}={tenant.name},{names.COMPONENT}=migrate"
    current = migration_job_name(tenant)
    for job in kube.list("batch/v1", "Job", tenant.namespace, selector):
        if job["metadata"]["name"] != current and controlled_by(job, tenant.uid):
            kube.delete("batch/v1", "Job", tenant.namespace, job["metadata"]["name"])
