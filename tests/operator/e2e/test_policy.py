"""The operator's allow-lists against the real API server: a tenant whose image repository
or URLs the operator's config refuses gets Ready=False with a named reason and a Warning
Event, no Deployment runs the image, and no Sender token leaves for a refused URL.

The e2e operator allows images from ``ghcr.io/scrm``, Graph at graph.facebook.com and
loopback, and internal URLs ``http://*.svc:8000`` and loopback (tests/operator/conftest.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from scrm_operator import names

from tests.operator.e2e.harness import (
    Cluster,
    Operator,
    Recorder,
    eventually,
    failed_with,
    tenant_manifest,
    wait_reconciled,
    warned,
)

WHATSAPP = {
    "appSecretRef": {"name": "whatsapp", "key": "appSecret"},
    "verifyTokenRef": {"name": "whatsapp", "key": "verifyToken"},
}


def deployments(cluster: Cluster, ns: str, t: str) -> list[dict]:
    return cluster.kube.list("apps/v1", "Deployment", ns, f"{names.TENANT_LABEL}={t}")


def test_an_image_outside_the_allow_list_never_runs(
    operator: Operator, cluster: Cluster, namespace: str
) -> None:
    bad = f"bad-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, bad, image={"repository": "ghcr.io/scrmx/miner"}))
    ready = failed_with(cluster, namespace, bad, "FailedImagePolicy")
    assert "ghcr.io/scrmx/miner" in ready["message"]
    assert "ghcr.io/scrmx/miner" in warned(cluster, namespace, bad, "FailedImagePolicy")["message"]
    assert deployments(cluster, namespace, bad) == []

    # A running tenant edited to a refused image keeps running the image it had.
    good = f"good-{secrets.token_hex(2)}"
    cluster.create(tenant_manifest(namespace, good))
    wait_reconciled(cluster, namespace, good, 1)
    patch = {"spec": {"image": {"repository": "docker.io/evil/miner"}}}
    cluster.merge_patch(names.API_VERSION, "ScrmTenant", namespace, good, patch)
    ready = failed_with(cluster, namespace, good, "FailedImagePolicy")
    assert ready["observedGeneration"] == 2
    images = {
        c["image"]
        for d in deployments(cluster, namespace, good)
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"ghcr.io/scrm/scrm:0.1.0"}


@pytest.fixture
def outside_api() -> Iterator[Recorder]:
    """A server the allow-list refuses: reached as ``localhost``, not ``127.0.0.1``."""
    with Recorder().running() as recorder:
        yield recorder


def test_urls_outside_the_allow_lists_get_no_token(
    operator: Operator, cluster: Cluster, namespace: str, outside_api: Recorder
) -> None:
    t = f"url-{secrets.token_hex(2)}"
    internal = f"http://localhost:{outside_api.port}"
    cluster.create(tenant_manifest(namespace, t, api={"internalUrl": internal}))
    ready = failed_with(cluster, namespace, t, "FailedURLPolicy")
    assert "api.internalUrl" in ready["message"] and internal in ready["message"]
    assert deployments(cluster, namespace, t) == []

    cluster.secret(namespace, "wa-token", {"token": "good-token"})
    cluster.create(
        {
            "apiVersion": names.API_VERSION,
            "kind": "Sender",
            "metadata": {"name": "main", "namespace": namespace},
            "spec": {
                "tenantRef": {"name": t},
                "phoneNumberId": f"77{secrets.randbelow(10**8)}",
                "displayNumber": "+6281234567890",
                "wabaId": "5550001",
                "accessTokenSecretRef": {"name": "wa-token"},
            },
        }
    )
    ready = eventually(
        lambda: (
            cluster.ready(namespace, "main", "Sender").get("reason") == "FailedURLPolicy"
            and cluster.ready(namespace, "main", "Sender")
        ),
        "the Sender to be refused",
    )
    assert internal in ready["message"]
    assert warned(cluster, namespace, "main", "FailedURLPolicy")

    graph = f"graph-{secrets.token_hex(2)}"
    whatsapp = {**WHATSAPP, "graphBaseUrl": "https://graph.facebook.com.evil.example"}
    cluster.create(tenant_manifest(namespace, graph, whatsapp=whatsapp))
    ready = failed_with(cluster, namespace, graph, "FailedURLPolicy")
    assert "graphBaseUrl" in ready["message"]
    assert cluster.kube.delete(names.API_VERSION, "Sender", namespace, "main")
    eventually(
        lambda: cluster.kube.get(names.API_VERSION, "Sender", namespace, "main") is None,
        "the Sender to go",
    )
    assert outside_api.calls == []  # neither published nor withdrawn there
