"""Conditions, orphan selection, broker URLs and sender publication: plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from scrm_operator import names
from scrm_operator.conditions import (
    Condition,
    backoff_delay,
    ready_patch,
    retry_pending,
    retry_status,
    upsert,
)
from scrm_operator.policy import image_allowed, url_allowed
from scrm_operator.rabbitmq import Broker, tenant_pattern
from scrm_operator.reconcilers.children import readiness
from scrm_operator.reconcilers.queues import orphan_queues
from scrm_operator.reconcilers.sender import Claim, SenderSpec, first_claim, publication
from scrm_operator.reconcilers.teardown import SLACK_SECONDS, stopping

from runtime.whatsapp.models import PhoneNumberInfo


def test_upsert_keeps_other_conditions_and_transition_time_when_status_holds() -> None:
    other = {"type": "Degraded", "status": "False"}
    first = upsert([other], "Ready", Condition("False", "Progressing", "x"), 1, "T1")
    assert first[0] == other
    assert first[1]["lastTransitionTime"] == "T1"
    same = upsert(first, "Ready", Condition("False", "Progressing", "y"), 2, "T2")
    assert same[1]["lastTransitionTime"] == "T1"
    assert (same[1]["message"], same[1]["observedGeneration"]) == ("y", 2)
    flipped = upsert(same, "Ready", Condition("True", "Available", "ok"), 2, "T3")
    assert flipped[1]["lastTransitionTime"] == "T3"
    assert [c["type"] for c in flipped] == ["Degraded", "Ready"]


def test_ready_patch_sets_generation_phase_and_fields() -> None:
    body: dict[str, object] = {"status": {"conditions": [{"type": "X", "status": "True"}]}}
    ready_patch(Condition("True", "Available", "ok"), 4, {"endpoints": {"api": "u"}})(body)
    status = body["status"]
    assert isinstance(status, dict)
    assert status["observedGeneration"] == 4
    assert status["phase"] == "Ready"
    assert status["endpoints"] == {"api": "u"}
    assert [c["type"] for c in status["conditions"]] == ["X", "Ready"]


def test_readiness_names_what_it_waits_for() -> None:
    summary = {
        "migration": {"succeeded": True},
        "api": {"ready": False},
        "ws": {"ready": False},
        "senderWorker": {"ready": False},
    }
    condition = readiness(summary)
    assert (condition.status, condition.reason) == ("False", "Progressing")
    assert condition.message == "waiting for api, ws, sender-worker"
    summary["api"]["ready"] = summary["ws"]["ready"] = True
    assert readiness(summary).message == "waiting for sender-worker"
    summary["senderWorker"]["ready"] = True
    assert readiness(summary).status == "True"


def test_orphans_are_dead_pods_queues_without_consumers_of_this_tenant_only() -> None:
    queues = [
        {"name": "scrm.acme.ws.live-1", "consumers": 0},
        {"name": "scrm.acme.ws.dead-1", "consumers": 0},
        {"name": "scrm.acme.ws.busy-1", "consumers": 1},  # running, pod not indexed yet
        {"name": "scrm.other.ws.dead-2", "consumers": 0},
        {"name": "unrelated", "consumers": 0},
    ]
    assert orphan_queues(queues, "acme", {"live-1"}) == ["scrm.acme.ws.dead-1"]


def test_broker_secret_gives_admin_endpoint_and_tenant_amqp_url() -> None:
    broker = Broker.from_secret(
        {"managementUrl": "http://admin:pw@rabbit:15672/", "amqpUrl": "amqp://x:y@rabbit:5672/"}
    )
    assert (broker.management_url, broker.username, broker.password) == (
        "http://rabbit:15672",
        "admin",
        "pw",
    )
    url = broker.tenant_amqp_url("scrm-ns-acme", "p/w", "scrm-ns-acme")
    assert url == "amqp://scrm-ns-acme:p%2Fw@rabbit:5672/scrm-ns-acme"
    assert tenant_pattern("acme") == r"^scrm\.acme\."


def test_sender_publication_carries_meta_profile_but_only_a_secret_reference() -> None:
    sender = SenderSpec.from_resource(
        {
            "metadata": {"name": "main", "namespace": "sales"},
            "spec": {
                "tenantRef": {"name": "acme"},
                "phoneNumberId": "1234567",
                "displayNumber": "+6281234567",
                "wabaId": "99999",
                "accessTokenSecretRef": {"name": "wa-token", "key": "token"},
                "allocations": [{"team": "sales", "role": "primary"}],
                "paused": True,
            },
        }
    )
    info = PhoneNumberInfo("1234567", "Acme", "+62 812-34567", "GREEN", "TIER_1K", None)
    body = publication(sender, info, "EAAG-token-from-secret")
    assert body == {
        "tenant_slug": "acme",
        "display_number": "+6281234567",
        "waba_id": "99999",
        "verified_name": "Acme",
        "quality_rating": "GREEN",
        "messaging_limit_tier": "TIER_1K",
        "access_token": "EAAG-token-from-secret",
        "access_token_secret_ref": "wa-token/token",
        "status": "paused",
        "allocations": [{"team": "sales", "role": "primary"}],
    }


def test_external_names_cannot_collide_and_fit_postgresql() -> None:
    assert names.external_name("team-a", "x") != names.external_name("team", "a-x")
    assert names.external_name("team-a", "x") == "scrm.team-a.x"
    longest_ns, longest_tenant = "n" * 63, "t" * 40  # what the API server and the CRD admit
    long = names.external_name(longest_ns, longest_tenant)
    assert len(long.encode()) <= 63
    assert long != names.external_name(longest_ns, longest_tenant[:-1])
    assert long.count(".") == 3  # shortened names have a fourth part: never equal a full name
    assert names.external_name("a" * 30, "b" * 28) != names.external_name("a" * 31, "b" * 27)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff_delay(a, 10, 300) for a in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert backoff_delay(10_000, 1, 60) == 60  # no overflow on a long outage


def test_retry_status_says_when_the_next_attempt_is_due() -> None:
    at = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    retry = retry_status(3, 40.0, at)
    assert retry == {"attempt": 3, "delaySeconds": 40.0, "nextAttemptAt": "2026-01-01T12:00:40Z"}
    status = {"retry": retry}
    assert retry_pending(status, at + timedelta(seconds=39))
    assert not retry_pending(status, at + timedelta(seconds=40))
    assert not retry_pending({}, at)


def test_ready_patch_removes_fields_set_to_none() -> None:
    body: dict[str, Any] = {"status": {"retry": {"attempt": 2}}}
    ready_patch(Condition("True", "Available", "ok"), 1, {"retry": None})(body)
    assert "retry" not in body["status"]


def test_image_allow_list_matches_whole_path_segments() -> None:
    allowed = ["ghcr.io/scrm", "registry.example/team/"]
    assert image_allowed("ghcr.io/scrm", allowed)
    assert image_allowed("ghcr.io/scrm/scrm", allowed)
    assert image_allowed("registry.example/team/scrm", allowed)
    assert not image_allowed("ghcr.io/scrmx/miner", allowed)
    assert not image_allowed("docker.io/ghcr.io/scrm", allowed)
    assert image_allowed("anything/at/all", [])  # no list: no restriction


def test_url_allow_list_compares_where_a_url_connects() -> None:
    allowed = ["https://graph.facebook.com", "http://*.svc:8000", "http://127.0.0.1:*"]
    assert url_allowed("https://graph.facebook.com", allowed)
    assert url_allowed("https://graph.facebook.com:443/v25.0", allowed)
    assert url_allowed("http://acme-api.sales.svc:8000", allowed)
    assert url_allowed("http://127.0.0.1:39999", allowed)
    refused = [
        "https://graph.facebook.com.evil.example",
        "https://graph.facebook.com@evil.example",
        "http://graph.facebook.com",  # scheme
        "https://graph.facebook.com:8443",  # port
        "http://svc:8000",  # the wildcard needs a subdomain
        "http://acme-api.sales.svc:9000",
        "http://127.0.0.2:80",
    ]
    assert [url for url in refused if url_allowed(url, allowed)] == []


def test_a_later_sender_of_a_number_is_the_duplicate() -> None:
    first = Claim("2026-01-01T00:00:00Z", "b", "old")
    later = Claim("2026-01-02T00:00:00Z", "a", "new")
    assert first_claim([later, first]) == first
    assert first_claim([]) is None


def _pod(name: str, grace: int | None = None) -> dict[str, Any]:
    spec = {} if grace is None else {"terminationGracePeriodSeconds": grace}
    return {"metadata": {"name": name}, "spec": spec}


def test_deletion_waits_for_pods_up_to_the_longest_grace_plus_slack() -> None:
    began = datetime(2026, 1, 1, tzinfo=UTC)
    pods = [_pod("acme-ws-1", 60), _pod("acme-api-1")]  # unset grace: 30 s
    waiting = stopping(pods, began, began + timedelta(seconds=10))
    assert not waiting.done
    assert waiting.wait_left == 60 + SLACK_SECONDS - 10
    assert "2 pod(s)" in waiting.message() and "acme-api-1, acme-ws-1" in waiting.message()
    assert stopping(pods, began, began + timedelta(seconds=60 + SLACK_SECONDS)).done
    assert stopping([], began, began).done
