"""Sender: validated through the Graph API simulator, published to a fake tenant api,
withdrawn on delete; a bad token surfaces Meta's error in the Ready condition."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scrm_operator import names

from runtime.whatsapp.simulator import SimulatorConfig, create_app
from tests.operator.e2e.harness import (
    Cluster,
    Operator,
    Recorder,
    eventually,
    serve,
    tenant_manifest,
    warned,
)

PHONE_ID, WABA_ID = "1098765432", "5550001"
OTHER_PHONE_ID = "1098765433"


@pytest.fixture(scope="module")
def graph() -> Iterator[str]:
    with serve(create_app(SimulatorConfig())) as url:
        httpx.post(
            f"{url}/_sim/phone_numbers",
            json={
                "id": PHONE_ID,
                "display_phone_number": "+62 812-3456-7890",
                "waba_id": WABA_ID,
                "access_token": "good-token",
                "verified_name": "Acme Indonesia",
            },
        ).raise_for_status()
        httpx.post(
            f"{url}/_sim/phone_numbers",
            json={
                "id": OTHER_PHONE_ID,
                "display_phone_number": "+62 812-3456-7891",
                "waba_id": WABA_ID,
                "access_token": "good-token",
                "verified_name": "Acme Indonesia",
            },
        ).raise_for_status()
        yield url


@pytest.fixture
def runtime_api() -> Iterator[Recorder]:
    with Recorder().running() as recorder:
        yield recorder


def sender(namespace: str, name: str, tenant: str, token_secret: str, **spec: Any) -> dict:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "Sender",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "tenantRef": {"name": tenant},
            "phoneNumberId": PHONE_ID,
            "displayNumber": "+6281234567890",
            "wabaId": WABA_ID,
            "accessTokenSecretRef": {"name": token_secret},
            **spec,
        },
    }


def test_sender_is_validated_published_and_withdrawn(
    operator: Operator, cluster: Cluster, namespace: str, graph: str, runtime_api: Recorder
) -> None:
    t = f"s-{secrets.token_hex(3)}"
    cluster.create(
        tenant_manifest(
            namespace,
            t,
            whatsapp={
                "appSecretRef": {"name": "whatsapp", "key": "appSecret"},
                "verifyTokenRef": {"name": "whatsapp", "key": "verifyToken"},
                "graphBaseUrl": graph,
            },
            api={"internalUrl": runtime_api.url},
        )
    )
    cluster.secret(namespace, "wa-token", {"token": "good-token"})
    allocations = [{"team": "sales", "role": "primary"}]
    cluster.create(sender(namespace, "main", t, "wa-token", allocations=allocations))

    ready = eventually(
        lambda: (
            cluster.ready(namespace, "main", "Sender").get("status") == "True"
            and cluster.ready(namespace, "main", "Sender")
        ),
        "the sender to be published",
    )
    assert ready["reason"] == "Published"
    status = cluster.status(namespace, "main", "Sender")
    assert status["verifiedName"] == "Acme Indonesia"
    assert status["qualityRating"] == "GREEN"
    assert status["messagingLimitTier"] == "TIER_250"
    assert status["published"] is True and status["observedGeneration"] == 1

    keys = cluster.kube.secret_data(namespace, f"{t}-keys")
    assert keys is not None
    method, path, auth, body = runtime_api.calls[-1]
    assert (method, path) == ("PUT", f"/internal/senders/{PHONE_ID}")
    assert auth == f"Bearer {keys['internalToken']}"
    assert body["tenant_slug"] == t
    assert body["access_token_secret_ref"] == "wa-token/token"
    assert body["status"] == "active"
    assert body["allocations"] == allocations
    # The token reaches the api only through the authenticated internal call, never status.
    assert body["access_token"] == "good-token"
    assert "good-token" not in str(cluster.status(namespace, "main", "Sender"))

    cluster.merge_patch(names.API_VERSION, "Sender", namespace, "main", {"spec": {"paused": True}})
    eventually(
        lambda: runtime_api.calls[-1][3] and runtime_api.calls[-1][3]["status"] == "paused",
        "the pause to be published",
    )

    assert cluster.kube.delete(names.API_VERSION, "Sender", namespace, "main")
    eventually(
        lambda: cluster.kube.get(names.API_VERSION, "Sender", namespace, "main") is None,
        "the sender to be withdrawn and released",
    )
    assert runtime_api.calls[-1][:2] == ("DELETE", f"/internal/senders/{PHONE_ID}")


def test_bad_token_and_unreachable_runtime_show_in_the_condition(
    operator: Operator, cluster: Cluster, namespace: str, graph: str
) -> None:
    t = f"s-{secrets.token_hex(3)}"
    whatsapp = {
        "appSecretRef": {"name": "whatsapp", "key": "appSecret"},
        "verifyTokenRef": {"name": "whatsapp", "key": "verifyToken"},
        "graphBaseUrl": graph,
    }
    # Nothing listens on port 9 of loopback: the tenant's api is unreachable.
    cluster.create(
        tenant_manifest(namespace, t, whatsapp=whatsapp, api={"internalUrl": "http://127.0.0.1:9"})
    )
    cluster.secret(namespace, "bad-token", {"token": "not-the-token"})
    cluster.secret(namespace, "good-token", {"token": "good-token"})
    cluster.create(sender(namespace, "bad", t, "bad-token"))
    cluster.create(sender(namespace, "offline", t, "good-token", phoneNumberId=OTHER_PHONE_ID))

    bad = eventually(
        lambda: (
            cluster.ready(namespace, "bad", "Sender").get("reason") == "GraphAPIError"
            and cluster.ready(namespace, "bad", "Sender")
        ),
        "Meta's error on the bad sender",
    )
    assert bad["status"] == "False"
    assert bad["message"].startswith("[190]")
    offline = eventually(
        lambda: (
            cluster.ready(namespace, "offline", "Sender").get("reason") == "RuntimeUnreachable"
            and cluster.ready(namespace, "offline", "Sender")
        ),
        "the unreachable runtime",
    )
    assert "validated, not published" in offline["message"]
    status = cluster.status(namespace, "offline", "Sender")
    assert status["verifiedName"] == "Acme Indonesia" and status["published"] is False


def published_tenant(cluster: Cluster, namespace: str, graph: str, api: Recorder) -> str:
    t = f"s-{secrets.token_hex(3)}"
    whatsapp = {
        "appSecretRef": {"name": "whatsapp", "key": "appSecret"},
        "verifyTokenRef": {"name": "whatsapp", "key": "verifyToken"},
        "graphBaseUrl": graph,
    }
    cluster.create(tenant_manifest(namespace, t, whatsapp=whatsapp, api={"internalUrl": api.url}))
    cluster.secret(namespace, "wa-token", {"token": "good-token"})
    return t


def reason(cluster: Cluster, namespace: str, name: str) -> str:
    return str(cluster.ready(namespace, name, "Sender").get("reason"))


def test_a_second_sender_of_a_number_is_reported_and_takes_over_when_the_first_goes(
    operator: Operator, cluster: Cluster, namespace: str, graph: str, runtime_api: Recorder
) -> None:
    t = published_tenant(cluster, namespace, graph, runtime_api)
    cluster.create(sender(namespace, "first", t, "wa-token"))
    eventually(lambda: reason(cluster, namespace, "first") == "Published", "the first sender")
    cluster.create(sender(namespace, "second", t, "wa-token"))

    eventually(
        lambda: reason(cluster, namespace, "second") == "DuplicatePhoneNumber",
        "the duplicate to be reported",
    )
    ready = cluster.ready(namespace, "second", "Sender")
    assert ready["status"] == "False" and f"{namespace}/first" in ready["message"]
    assert (
        f"{namespace}/first"
        in warned(cluster, namespace, "second", "DuplicatePhoneNumber")["message"]
    )
    status = cluster.status(namespace, "second", "Sender")
    assert (status["phase"], status["published"]) == ("Failed", False)

    assert cluster.kube.delete(names.API_VERSION, "Sender", namespace, "first")
    eventually(lambda: reason(cluster, namespace, "second") == "Published", "the takeover")
    withdrawn = [i for i, c in enumerate(runtime_api.calls) if c[0] == "DELETE"]
    assert withdrawn and runtime_api.calls[-1][:2] == ("PUT", f"/internal/senders/{PHONE_ID}")
    assert max(withdrawn) < len(runtime_api.calls) - 1  # published again after the withdrawal


def test_a_sender_deleted_while_the_api_fails_keeps_its_finalizer_until_withdrawn(
    operator: Operator, cluster: Cluster, namespace: str, graph: str, runtime_api: Recorder
) -> None:
    t = published_tenant(cluster, namespace, graph, runtime_api)
    cluster.create(sender(namespace, "main", t, "wa-token"))
    eventually(lambda: reason(cluster, namespace, "main") == "Published", "the sender")
    runtime_api.status = 503

    assert cluster.kube.delete(names.API_VERSION, "Sender", namespace, "main")
    # More attempts than a bounded retry count would make: the finalizer holds.
    eventually(
        lambda: sum(c[0] == "DELETE" for c in runtime_api.calls) >= 8,
        "eight withdrawal attempts",
    )
    body = cluster.kube.get(names.API_VERSION, "Sender", namespace, "main")
    assert body is not None and body["metadata"].get("deletionTimestamp")
    assert reason(cluster, namespace, "main") == "FailedWithdrawal"
    assert "503" in warned(cluster, namespace, "main", "FailedWithdrawal")["message"]

    runtime_api.status = 200
    eventually(
        lambda: cluster.kube.get(names.API_VERSION, "Sender", namespace, "main") is None,
        "the sender to be withdrawn and released",
    )
