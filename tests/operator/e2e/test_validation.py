"""The API server rejects invalid objects with the CRD's messages (no operator needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from scrm_operator import names
from scrm_operator.kube import resource_path

from tests.operator.e2e.harness import REPO, Cluster, tenant_manifest

S3_MEDIA = {
    "endpoint": "http://minio.storage.svc:9000",
    "bucket": "acme-media",
    "credentialsSecretRef": {"name": "acme-s3"},
}
SENDER_SPEC = {
    "tenantRef": {"name": "acme"},
    "phoneNumberId": "1234567",
    "displayNumber": "+6281234567890",
    "wabaId": "7654321",
    "accessTokenSecretRef": {"name": "wa-token"},
}


def rejection(cluster: Cluster, manifest: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as caught:
        cluster.create(manifest)
    assert caught.value.status == 422, caught.value.body
    return str(json.loads(caught.value.body or "{}")["message"])


def sender(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "Sender",
        "metadata": {"name": name, "namespace": namespace},
        "spec": SENDER_SPEC | spec,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"ws": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}},
            "ws.autoscaling.minReplicas must be less than or equal to maxReplicas",
        ),
        (
            {
                "database": {
                    "urlSecretRef": {"name": "db", "key": "url"},
                    "sharedServer": {"host": "pg", "adminSecretRef": {"name": "a"}},
                }
            },
            "set exactly one of database.urlSecretRef and database.sharedServer",
        ),
        ({"deliveryMode": "broadcast"}, 'spec.deliveryMode: Unsupported value: "broadcast"'),
        ({"defaultPhoneRegion": "idn"}, "spec.defaultPhoneRegion in body should match"),
        (
            {"api": {"replicas": -1}},
            "spec.api.replicas in body should be greater than or equal to 0",
        ),
        (
            {"senderWorker": {"replicas": 51}},
            "spec.senderWorker.replicas in body should be less than or equal to 50",
        ),
        (
            {"ws": {"autoscaling": {"maxReplicas": 1}}},
            "minReplicas defaults to 2; set it too when maxReplicas is below 2",
        ),
        (
            {"ingress": {"host": "acme.example.com", "className": "Nginx Public"}},
            "spec.ingress.className in body should match",
        ),
        (
            {"ingress": {"host": "acme.example.com", "tlsSecretName": "../tls"}},
            "spec.ingress.tlsSecretName in body should match",
        ),
        (
            {"image": {"repository": "ghcr.io/scrm/scrm latest"}},
            "spec.image.repository in body should match",
        ),
        (
            {"image": {"repository": "ghcr.io/scrm/scrm:1.2.3"}},
            "spec.image.repository in body should match",  # the tag has its own field
        ),
        (
            {"api": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}}},
            "each resource request must be less than or equal to its limit",
        ),
        (
            {"ws": {"resources": {"requests": {"gpu": 1}}}},
            "known resource names only",
        ),
        ({"media": {"store": "disk"}}, 'spec.media.store: Unsupported value: "disk"'),
        ({"media": {"store": "s3"}}, "set media.s3 exactly when media.store is s3"),
        ({"media": {"s3": S3_MEDIA}}, "set media.s3 exactly when media.store is s3"),
        (
            {"media": {"store": "s3", "s3": S3_MEDIA | {"endpoint": "https://k:s@s3.test"}}},
            "spec.media.s3.endpoint in body should match",
        ),
        (
            {"media": {"store": "s3", "s3": S3_MEDIA | {"bucket": "Acme_Media"}}},
            "spec.media.s3.bucket in body should match",
        ),
        (
            {"media": {"store": "s3", "s3": {"endpoint": "https://s3.test", "bucket": "b-1"}}},
            "spec.media.s3.credentialsSecretRef: Required value",
        ),
    ],
)
def test_invalid_tenants_are_rejected_with_clear_messages(
    cluster: Cluster, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    assert expected in rejection(cluster, tenant_manifest(namespace, "bad", **spec))


def test_tenant_name_must_be_a_short_slug(cluster: Cluster, namespace: str) -> None:
    message = rejection(cluster, tenant_manifest(namespace, "a" * 41))
    assert "metadata.name must be a lowercase DNS label of at most 40 characters" in message


def test_tenant_without_required_fields_is_rejected(cluster: Cluster, namespace: str) -> None:
    manifest = tenant_manifest(namespace, "bare")
    del manifest["spec"]["rabbitmq"]
    assert "spec.rabbitmq: Required value" in rejection(cluster, manifest)


def test_invalid_senders_are_rejected(cluster: Cluster, namespace: str) -> None:
    assert "spec.phoneNumberId in body should match" in rejection(
        cluster, sender(namespace, "s1", phoneNumberId="12ab")
    )
    assert "spec.displayNumber in body should match" in rejection(
        cluster, sender(namespace, "s2", displayNumber="0812")
    )
    assert "spec.tenantRef.name in body should match" in rejection(
        cluster, sender(namespace, "s4", tenantRef={"name": "Acme_1"})
    )
    duplicate = [{"team": "a", "role": "primary"}, {"team": "a", "role": "secondary"}]
    assert "Duplicate value" in rejection(cluster, sender(namespace, "s3", allocations=duplicate))


def test_sender_tenant_and_number_are_immutable(cluster: Cluster, namespace: str) -> None:
    cluster.create(sender(namespace, "fixed"))
    for patch, message in (
        ({"tenantRef": {"name": "other"}}, "spec.tenantRef is immutable"),
        ({"phoneNumberId": "7777777"}, "spec.phoneNumberId is immutable"),
    ):
        with pytest.raises(ApiException) as caught:
            cluster.merge_patch(names.API_VERSION, "Sender", namespace, "fixed", {"spec": patch})
        assert message in json.loads(caught.value.body or "{}")["message"]


def test_defaults_are_applied_by_the_api_server(cluster: Cluster, namespace: str) -> None:
    created = cluster.create(tenant_manifest(namespace, "defaults"))
    spec = created["spec"]
    assert spec["deliveryMode"] == "fanout"
    assert spec["defaultPhoneRegion"] == "ID"
    assert spec["ws"]["autoscaling"] == {
        "enabled": True,
        "minReplicas": 2,
        "maxReplicas": 10,
        "metric": "cpu",
        "targetCPUUtilizationPercentage": 70,
        "targetConnectionsPerPod": 2000,
    }
    assert spec["whatsapp"]["graphApiVersion"] == "v25.0"
    assert spec["senderWorker"] == {"replicas": 2}
    assert spec["media"] == {"store": "database"}


def test_an_s3_media_store_gets_its_defaults(cluster: Cluster, namespace: str) -> None:
    media = {"store": "s3", "s3": S3_MEDIA}
    created = cluster.create(tenant_manifest(namespace, "s3-media", media=media))
    assert created["spec"]["media"]["s3"] == S3_MEDIA | {
        "region": "us-east-1",
        "credentialsSecretRef": {
            "name": "acme-s3",
            "accessKeyIdKey": "accessKeyId",
            "secretAccessKeyKey": "secretAccessKey",
        },
    }


def test_examples_are_accepted_by_the_api_server(cluster: Cluster) -> None:
    """Server-side dry run of examples/*.yaml: schemas, defaults and CEL rules all apply."""
    cluster.namespace("scrm-demo")
    kinds = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            meta = doc["metadata"]
            url = resource_path(doc["apiVersion"], doc["kind"], meta["namespace"])
            created = cluster.kube.request("POST", url, query=[("dryRun", "All")], body=doc)
            kinds.append(created["kind"])
    assert kinds.count("ScrmTenant") == kinds.count("Sender") == 1


def test_requests_within_limits_and_integer_quantities_are_accepted(
    cluster: Cluster, namespace: str
) -> None:
    resources = {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": 1, "memory": "0.5Gi", "ephemeral-storage": "1Gi"},
    }
    created = cluster.create(tenant_manifest(namespace, "fits", api={"resources": resources}))
    assert created["spec"]["api"]["resources"]["limits"]["cpu"] == 1
