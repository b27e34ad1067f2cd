"""The sender-worker Deployment: ``scrm sender-worker`` works the tenant's send queue.

Sending scales (or is paused) apart from HTTP load; while it has replicas, the api pods do
not work the queue (``SCRM_OUTBOUND_WORK=false`` in the ConfigMap). It serves no port: it
only talks to PostgreSQL and the Graph API, so it has no Service and no HTTP probes. Any
number of replicas is safe: claims use ``SKIP LOCKED`` and the send limits live in the
database (docs/outbound.md).
"""

from __future__ import annotations

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, metadata, selector_labels
from scrm_operator.builders.pods import container, pod_template
from scrm_operator.spec import TenantSpec

COMPONENT = "sender-worker"
# SIGTERM lets the sends under way finish and be recorded (a send waits up to 15 s).
GRACE_SECONDS = 30


def sender_worker_deployment(tenant: TenantSpec) -> Manifest:
    main = container(
        tenant,
        "sender-worker",
        ["sender-worker"],
        tenant.sender_worker_resources,
        keeps_media=True,  # it uploads the files of media sends to Meta
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(tenant, names.sender_worker_name(tenant.name), COMPONENT),
        "spec": {
            "replicas": tenant.sender_worker_replicas,
            "selector": {"matchLabels": selector_labels(tenant, COMPONENT)},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": pod_template(
                tenant, COMPONENT, [main], terminationGracePeriodSeconds=GRACE_SECONDS
            ),
        },
    }
