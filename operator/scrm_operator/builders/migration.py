"""The database migration Job. Job templates are immutable, so the Job is named by a hash
of its whole spec: any change that shapes it (image, settings, Secret refs, resources)
makes a new Job instead of a refused update."""

from __future__ import annotations

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, digest, metadata
from scrm_operator.builders.pods import container, pod_template
from scrm_operator.spec import TenantSpec

COMPONENT = "migrate"


def _job_spec(tenant: TenantSpec) -> Manifest:
    main = container(tenant, "migrate", ["migrate"], tenant.api_resources)
    return {
        "backoffLimit": 6,
        "activeDeadlineSeconds": 1800,
        "template": pod_template(
            tenant, COMPONENT, [main], rolls_with_credentials=False, restartPolicy="OnFailure"
        ),
    }


def migration_job_name(tenant: TenantSpec) -> str:
    return names.migration_job(tenant.name, digest(_job_spec(tenant), 8))


def migration_job(tenant: TenantSpec) -> Manifest:
    spec = _job_spec(tenant)
    name = names.migration_job(tenant.name, digest(spec, 8))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(tenant, name, COMPONENT),
        "spec": spec,
    }
