"""A tenant's workloads stop before its broker objects go.

Left to the garbage collector, the Deployments' pods are deleted only after the tenant's
finalizer is released, i.e. after the vhost and user were removed: a ws pod would then spend
its whole grace period retrying a vanished vhost and end in SIGKILL. So the delete handler
first deletes the tenant's Deployments and Jobs itself and waits (by kopf retries, not by
blocking a worker) until their pods are gone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scrm_operator import names
from scrm_operator.kube import Kube, Manifest
from scrm_operator.reconcilers.children import controlled_by

WORKLOADS = (("apps/v1", "Deployment"), ("batch/v1", "Job"))
DEFAULT_GRACE_SECONDS = 30  # a pod's terminationGracePeriodSeconds when unset
# Beyond the longest grace period, how long a pod may still take to be gone (the kubelet's
# final delete, a slow node) before the broker objects are removed anyway.
SLACK_SECONDS = 30.0


@dataclass(frozen=True)
class Stopping:
    """Pods of the tenant still running, and how long the deletion may still wait."""

    pods: list[str]
    wait_left: float

    @property
    def done(self) -> bool:
        return not self.pods or self.wait_left <= 0

    def message(self) -> str:
        shown = ", ".join(sorted(self.pods)[:5])
        return (
            f"deletion waits for {len(self.pods)} pod(s) to stop before the RabbitMQ vhost and "
            f"user are removed ({shown}); at most {self.wait_left:.0f} s more"
        )


def stop_workloads(kube: Kube, namespace: str, tenant: str, uid: str) -> None:
    """Delete the Deployments and Jobs the tenant controls (their pods get SIGTERM)."""
    selector = f"{names.TENANT_LABEL}={tenant}"
    for api_version, kind in WORKLOADS:
        for workload in kube.list(api_version, kind, namespace, selector):
            if controlled_by(workload, uid) and not workload["metadata"].get("deletionTimestamp"):
                kube.delete(api_version, kind, namespace, workload["metadata"]["name"])


def running_pods(kube: Kube, namespace: str, tenant: str) -> list[Manifest]:
    """The tenant's pods whose containers may still run: bound to a node (a pod never
    scheduled runs nothing) and not Succeeded or Failed."""
    pods = kube.list("v1", "Pod", namespace, f"{names.TENANT_LABEL}={tenant}")
    return [
        p
        for p in pods
        if p["spec"].get("nodeName")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def stopping(pods: Sequence[Manifest], deletion_started: datetime, now: datetime) -> Stopping:
    """The deletion waits for ``pods`` up to the longest grace period among them plus
    ``SLACK_SECONDS`` after the tenant's deletion began; then it goes on without them."""
    grace = max(
        (p["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS) for p in pods),
        default=0,
    )
    waited = (now - deletion_started).total_seconds()
    names_ = [p["metadata"]["name"] for p in pods]
    return Stopping(names_, grace + SLACK_SECONDS - waited)
