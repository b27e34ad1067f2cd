"""Conditions, orphan selection, broker URLs and sender publication: plain functions."""

from __future__ import annotations

from scrm_operator import names
from scrm_operator.conditions import Condition, ready_patch, upsert
from scrm_operator.rabbitmq import Broker, tenant_pattern
from scrm_operator.reconcilers.children import readiness
from scrm_operator.reconcilers.queues import orphan_queues
from scrm_operator.reconcilers.sender import SenderSpec, publication

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
