"""Builders are pure: a tenant spec in, manifests out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scrm_operator import names
from scrm_operator.builders.api import api_deployment, api_service
from scrm_operator.builders.config import config_map
from scrm_operator.builders.ingress import ingress
from scrm_operator.builders.migration import migration_job
from scrm_operator.builders.security import network_policy, service_account
from scrm_operator.builders.sender_worker import sender_worker_deployment
from scrm_operator.builders.tenant import children, optional_children
from scrm_operator.builders.ws import ws_autoscaler, ws_deployment, ws_service
from scrm_operator.spec import TenantSpec

from tests.operator.specs import TENANT_SPEC, tenant_body


def tenant(**spec: Any) -> TenantSpec:
    return TenantSpec.from_resource(tenant_body(**spec))


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("valueFrom") for e in container["env"]}


def test_every_child_is_owned_labelled_and_namespaced() -> None:
    t = tenant()
    built = children(t) + [c.manifest for c in optional_children(t) if c.manifest]
    assert len(built) == 10  # 9 always + HPA (no ingress host)
    for manifest in built:
        meta = manifest["metadata"]
        assert meta["namespace"] == "sales"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "scrm.io/v1alpha1",
                "kind": "ScrmTenant",
                "name": "acme",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"][names.TENANT_LABEL] == "acme"
        assert meta["labels"][names.PART_OF] == "scrm"
        assert meta["labels"][names.MANAGED_BY] == "scrm-operator"


def test_api_deployment_runs_the_api_with_probes_and_secret_env() -> None:
    deployment = api_deployment(tenant())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "registry.example/scrm:1.2.3"
    assert container["args"] == ["api", "--port", "8000"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert pod["serviceAccountName"] == "acme-runtime"
    assert pod["automountServiceAccountToken"] is False
    env = env_of(deployment)
    assert env["SCRM_DATABASE_URL"] == {"secretKeyRef": {"name": "acme-db", "key": "url"}}
    assert env["SCRM_AMQP_URL"] == {"secretKeyRef": {"name": "acme-rabbitmq", "key": "amqpUrl"}}
    assert env["SCRM_INTERNAL_TOKEN"] == {
        "secretKeyRef": {"name": "acme-keys", "key": "internalToken"}
    }
    assert env["SCRM_WHATSAPP_APP_SECRET"] == {
        "secretKeyRef": {"name": "acme-whatsapp", "key": "appSecret"}
    }
    assert container["envFrom"] == [{"configMapRef": {"name": "acme-config"}}]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert api_service(tenant())["spec"]["selector"] == selector


def test_ws_pods_know_their_name_and_drain_before_dying() -> None:
    deployment = ws_deployment(tenant())
    pod = deployment["spec"]["template"]["spec"]
    env = env_of(deployment)
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert pod["terminationGracePeriodSeconds"] == 60
    assert pod["containers"][0]["args"] == ["ws", "--port", "8001"]
    assert pod["containers"][0]["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8001}
    assert "replicas" not in deployment["spec"]  # owned by the HPA
    assert ws_service(tenant())["spec"]["ports"][0]["port"] == 8001


def test_sender_worker_runs_the_queue_and_the_api_stops_sending() -> None:
    t = tenant(senderWorker={"replicas": 3, "resources": {"limits": {"memory": "256Mi"}}})
    deployment = sender_worker_deployment(t)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["metadata"]["name"] == "acme-sender-worker"
    assert deployment["spec"]["replicas"] == 3
    assert container["args"] == ["sender-worker"]
    assert container["resources"] == {"limits": {"memory": "256Mi"}}
    assert "ports" not in container and "readinessProbe" not in container  # serves no HTTP
    assert pod["terminationGracePeriodSeconds"] >= 15  # sends under way finish on SIGTERM
    assert env_of(deployment)["SCRM_DATABASE_URL"] == {
        "secretKeyRef": {"name": "acme-db", "key": "url"}
    }
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert selector != api_deployment(t)["spec"]["selector"]["matchLabels"]
    assert config_map(t)["data"]["SCRM_OUTBOUND_WORK"] == "false"  # one place sends


def test_without_sender_workers_the_api_sends() -> None:
    assert sender_worker_deployment(tenant())["spec"]["replicas"] == 2  # the default
    t = tenant(senderWorker={"replicas": 0})
    assert sender_worker_deployment(t)["spec"]["replicas"] == 0
    assert config_map(t)["data"]["SCRM_OUTBOUND_WORK"] == "true"


def test_ws_replicas_are_set_when_autoscaling_is_off() -> None:
    t = tenant(ws={**TENANT_SPEC["ws"], "replicas": 3, "autoscaling": {"enabled": False}})
    assert ws_deployment(t)["spec"]["replicas"] == 3
    assert ws_autoscaler(t) is None


def test_hpa_scales_on_cpu_by_default_and_on_connections_on_request() -> None:
    cpu = ws_autoscaler(tenant())
    assert cpu is not None
    assert cpu["spec"]["scaleTargetRef"]["name"] == "acme-ws"
    assert (cpu["spec"]["minReplicas"], cpu["spec"]["maxReplicas"]) == (2, 10)
    assert cpu["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    scaling = {**TENANT_SPEC["ws"]["autoscaling"], "metric": "connections"}
    conns = ws_autoscaler(tenant(ws={**TENANT_SPEC["ws"], "autoscaling": scaling}))
    assert conns is not None
    assert conns["spec"]["metrics"][0]["pods"] == {
        "metric": {"name": "scrm_ws_connections"},
        "target": {"type": "AverageValue", "averageValue": "2000"},
    }


def test_config_change_rolls_pods_and_unrelated_change_does_not() -> None:
    def config_hash(t: TenantSpec) -> str:
        template = ws_deployment(t)["spec"]["template"]
        return str(template["metadata"]["annotations"][names.CONFIG_HASH])

    base = config_hash(tenant())
    assert config_hash(tenant(deliveryMode="routed")) != base
    assert config_hash(tenant(api={"replicas": 5})) == base
    assert config_map(tenant(deliveryMode="routed"))["data"]["SCRM_DELIVERY_MODE"] == "routed"


def test_migration_job_is_named_by_everything_that_shapes_it_and_runs_migrate() -> None:
    """Job templates are immutable: an edit that changes the template must change the name
    (else the apply is refused with 422 and the children after it never update)."""
    job = migration_job(tenant())
    edits: list[dict[str, Any]] = [
        {"image": {**TENANT_SPEC["image"], "tag": "1.2.4"}},
        {"image": {**TENANT_SPEC["image"], "pullPolicy": "Always"}},
        {"deliveryMode": "routed"},
        {"displayName": "Acme Two"},
        {"defaultPhoneRegion": "MY"},
        {"api": {"replicas": 2, "resources": {"requests": {"cpu": "200m"}}}},
        {"whatsapp": {**TENANT_SPEC["whatsapp"], "graphBaseUrl": "https://graph.example"}},
        {"database": {"urlSecretRef": {"name": "other-db", "key": "url"}}},
    ]
    names_seen = {job["metadata"]["name"]}
    for edit in edits:
        edited = migration_job(tenant(**edit))
        assert edited["spec"] != job["spec"], edit
        names_seen.add(edited["metadata"]["name"])
    assert len(names_seen) == len(edits) + 1
    assert (
        migration_job(tenant(api={**TENANT_SPEC["api"], "replicas": 7}))["metadata"]
        == (job["metadata"])
    )  # the api's replica count does not shape the Job
    assert job["metadata"]["name"].startswith("acme-migrate-")
    assert len(job["metadata"]["name"]) <= 63
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    assert pod["containers"][0]["args"] == ["migrate"]


def test_network_policy_admits_only_the_http_ports() -> None:
    policy = network_policy(tenant())
    assert policy["spec"]["podSelector"] == {"matchLabels": {"scrm.io/tenant": "acme"}}
    ports = policy["spec"]["ingress"][0]["ports"]
    assert {p["port"] for p in ports} == {8000, 8001}
    assert service_account(tenant())["automountServiceAccountToken"] is False


def test_ingress_routes_ws_and_api_only_when_a_host_is_set() -> None:
    assert ingress(tenant()) is None
    built = ingress(tenant(ingress={"host": "acme.example.com", "tlsSecretName": "acme-tls"}))
    assert built is not None
    paths = built["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
        ("/ws", "acme-ws"),
        ("/", "acme-api"),
    ]
    assert built["spec"]["tls"] == [{"hosts": ["acme.example.com"], "secretName": "acme-tls"}]


def test_shared_database_points_the_runtime_at_the_operator_secret() -> None:
    shared = {"sharedServer": {"host": "pg", "adminSecretRef": {"name": "pg-admin"}}}
    env = env_of(api_deployment(tenant(database=shared)))
    assert env["SCRM_DATABASE_URL"] == {"secretKeyRef": {"name": "acme-database", "key": "url"}}


def test_regenerated_credentials_roll_the_deployments_but_not_the_migration_job() -> None:
    before, after = (
        replace(tenant(), credentials_hash="aaa"),
        replace(tenant(), credentials_hash="bbb"),
    )
    for build in (api_deployment, ws_deployment, sender_worker_deployment):
        old, new = (
            build(t)["spec"]["template"]["metadata"]["annotations"] for t in (before, after)
        )
        assert (old[names.CREDENTIALS_HASH], new[names.CREDENTIALS_HASH]) == ("aaa", "bbb")
        assert old[names.CONFIG_HASH] == new[names.CONFIG_HASH]
    jobs = [migration_job(t) for t in (before, after)]
    assert jobs[0] == jobs[1]  # same name, same (immutable) template
    assert names.CREDENTIALS_HASH not in jobs[0]["spec"]["template"]["metadata"]["annotations"]


S3_MEDIA = {
    "store": "s3",
    "s3": {
        "endpoint": "https://s3.ap-southeast-1.amazonaws.com",
        "bucket": "acme-media",
        "region": "ap-southeast-1",
        "credentialsSecretRef": {"name": "acme-s3", "accessKeyIdKey": "id"},
    },
}


def _containers(t: TenantSpec) -> dict[str, dict[str, Any]]:
    built = {
        "api": api_deployment(t),
        "ws": ws_deployment(t),
        "sender-worker": sender_worker_deployment(t),
        "migrate": migration_job(t),
    }
    return {name: m["spec"]["template"]["spec"]["containers"][0] for name, m in built.items()}


def test_every_pod_keeps_media_in_the_database_by_default() -> None:
    t = tenant()
    data = config_map(t)["data"]
    assert data["SCRM_MEDIA_STORE"] == "database"  # never a pod's own directory
    assert not [k for k in data if k.startswith("SCRM_MEDIA_S3")]
    for container in _containers(t).values():
        assert container["envFrom"] == [{"configMapRef": {"name": "acme-config"}}]
        assert not [e for e in container["env"] if e["name"].startswith("SCRM_MEDIA")]


def test_s3_media_store_gets_its_bucket_from_config_and_its_key_from_the_secret() -> None:
    t = tenant(media=S3_MEDIA)
    data = config_map(t)["data"]
    assert {k: v for k, v in data.items() if k.startswith("SCRM_MEDIA")} == {
        "SCRM_MEDIA_STORE": "s3",
        "SCRM_MEDIA_S3_ENDPOINT": "https://s3.ap-southeast-1.amazonaws.com",
        "SCRM_MEDIA_S3_BUCKET": "acme-media",
        "SCRM_MEDIA_S3_REGION": "ap-southeast-1",
    }
    containers = _containers(t)
    for name in ("api", "sender-worker"):  # they read and write files
        media_env = [e for e in containers[name]["env"] if e["name"].startswith("SCRM_MEDIA")]
        assert media_env == [
            {
                "name": "SCRM_MEDIA_S3_ACCESS_KEY_ID",
                "valueFrom": {"secretKeyRef": {"name": "acme-s3", "key": "id"}},
            },
            {
                "name": "SCRM_MEDIA_S3_SECRET_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": "acme-s3", "key": "secretAccessKey"}},
            },
        ]
    for name in ("ws", "migrate"):  # no media: no key
        assert not [e for e in containers[name]["env"] if e["name"].startswith("SCRM_MEDIA")]


def test_changing_the_media_store_rolls_the_pods() -> None:
    def config_hash(t: TenantSpec) -> str:
        template = sender_worker_deployment(t)["spec"]["template"]
        return str(template["metadata"]["annotations"][names.CONFIG_HASH])

    assert config_hash(tenant(media=S3_MEDIA)) != config_hash(tenant())
    assert config_hash(tenant(media={"store": "database"})) == config_hash(tenant())
