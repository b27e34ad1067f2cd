"""The database migration Job, one per runtime image (Job templates are immutable)."""

from __future__ import annotations

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, digest, metadata
from scrm_operator.builders.pods import container, pod_template
from scrm_operator.spec import TenantSpec

COMPONENT = "migrate"


def migration_job_name(tenant: TenantSpec) -> str:
    return names.migration_job(tenant.name, digest(tenant.image_ref, 8))


def migration_job(tenant: TenantSpec) -> Manifest:
    main = container(tenant, "migrate", ["migrate"], tenant.api_resources)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(tenant, migration_job_name(tenant), COMPONENT),
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": 1800,
            "template": pod_template(tenant, COMPONENT, [main], restartPolicy="OnFailure"),
        },
    }
