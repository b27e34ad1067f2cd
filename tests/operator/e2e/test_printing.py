"""What ``kubectl get`` and ``kubectl explain`` show, asked of the API server itself:
the Table rendering of the printer columns and the published OpenAPI v3 descriptions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scrm_operator import names
from scrm_operator.kube import resource_path

from tests.operator.e2e.harness import Cluster, tenant_manifest
from tests.operator.test_crds import schemas

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def table(cluster: Cluster, kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    """``kubectl get <kind>`` as the server renders it: {name: {column: cell}}."""
    path = resource_path(names.API_VERSION, kind, namespace)
    headers = {"Accept": TABLE}
    method, url, headers, _, _ = cluster.kube.api.param_serialize(
        "GET", path, header_params=headers, auth_settings=["BearerToken"]
    )
    response = cluster.kube.api.call_api(method, url, header_params=headers)
    response.read()
    assert response.status == 200, response.data
    body = json.loads(response.data)
    columns = [c["name"] for c in body["columnDefinitions"]]
    return {
        row["object"]["metadata"]["name"]: dict(zip(columns, row["cells"], strict=True))
        for row in body["rows"]
    }


def set_status(cluster: Cluster, kind: str, namespace: str, name: str, status: dict) -> None:
    cluster.merge_patch(names.API_VERSION, kind, namespace, name, {"status": status}, "/status")


READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Published",
    "message": "ok",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


def test_kubectl_get_prints_ready_phase_quality_and_tier(cluster: Cluster, namespace: str) -> None:
    cluster.create(tenant_manifest(namespace, "printed"))
    set_status(
        cluster, "ScrmTenant", namespace, "printed", {"phase": "Running", "conditions": [READY]}
    )
    cluster.create(
        {
            "apiVersion": names.API_VERSION,
            "kind": "Sender",
            "metadata": {"name": "printed", "namespace": namespace},
            "spec": {
                "tenantRef": {"name": "printed"},
                "phoneNumberId": "1234509876",
                "displayNumber": "+6281200001111",
                "wabaId": "98765",
                "accessTokenSecretRef": {"name": "whatsapp"},
            },
        }
    )
    set_status(
        cluster,
        "Sender",
        namespace,
        "printed",
        {"qualityRating": "YELLOW", "messagingLimitTier": "TIER_1K", "conditions": [READY]},
    )
    tenant = table(cluster, "ScrmTenant", namespace)["printed"]
    assert (tenant["Ready"], tenant["Phase"]) == ("True", "Running")
    sender = table(cluster, "Sender", namespace)["printed"]
    assert (sender["Ready"], sender["Quality"], sender["Tier"]) == ("True", "YELLOW", "TIER_1K")
    assert sender["Number"] == "+6281200001111"


@pytest.mark.parametrize("kind", ["ScrmTenant", "Sender"])
def test_kubectl_explain_describes_every_field(cluster: Cluster, kind: str) -> None:
    """The API server's published OpenAPI v3 (what ``kubectl explain`` reads) keeps a
    description on every field of the CRD, nested ones included."""
    group, version = names.API_VERSION.split("/")
    document = cluster.kube.request("GET", f"/openapi/v3/apis/{group}/{version}")
    reversed_group = ".".join(reversed(group.split(".")))
    schema = document["components"]["schemas"][f"{reversed_group}.{version}.{kind}"]
    assert schema["description"]
    undescribed = [
        where
        for where, node in schemas(schema, kind)
        if where != f"{kind}.metadata" and not where.endswith("{}") and "description" not in node
    ]
    assert undescribed == []
    assert {"spec", "status"} <= set(schema["properties"])
