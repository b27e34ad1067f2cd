"""Sender: validate the number with the Graph API, then publish it to the tenant's runtime
through the api's internal endpoint (``PUT``/``DELETE /internal/senders/{id}``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx

from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import WhatsAppError
from runtime.whatsapp.models import PhoneNumberInfo
from scrm_operator import names
from scrm_operator.conditions import Condition, Outcome
from scrm_operator.kube import Kube
from scrm_operator.policy import Policy, PolicyViolation
from scrm_operator.spec import SecretKeyRef, TenantSpec


@dataclass(frozen=True)
class SenderSpec:
    name: str
    namespace: str
    tenant: str
    phone_number_id: str
    display_number: str
    waba_id: str
    token_ref: SecretKeyRef
    allocations: tuple[tuple[str, str], ...]
    paused: bool

    @classmethod
    def from_resource(cls, body: Any) -> SenderSpec:
        spec = body["spec"]
        ref = spec["accessTokenSecretRef"]
        return cls(
            name=body["metadata"]["name"],
            namespace=body["metadata"]["namespace"],
            tenant=spec["tenantRef"]["name"],
            phone_number_id=spec["phoneNumberId"],
            display_number=spec["displayNumber"],
            waba_id=spec["wabaId"],
            token_ref=SecretKeyRef(ref["name"], ref.get("key", "token")),
            allocations=tuple((a["team"], a["role"]) for a in spec.get("allocations", [])),
            paused=spec.get("paused", False),
        )


class Claim(NamedTuple):
    """A Sender naming a phone number; the earliest (then by namespace/name) owns it."""

    created: str  # RFC 3339 in UTC: ordered as text
    namespace: str
    name: str


def first_claim(claims: list[Claim]) -> Claim | None:
    return min(claims, default=None)


def duplicate(sender: SenderSpec, first: Claim) -> Outcome:
    message = (
        f"phone number {sender.phone_number_id} belongs to Sender "
        f"{first.namespace}/{first.name}; this Sender is not published"
    )
    return Outcome(
        Condition("False", "DuplicatePhoneNumber", message), {"published": False}, retry=False
    )


def publication(sender: SenderSpec, info: PhoneNumberInfo, token: str) -> dict[str, Any]:
    """Body of ``PUT /internal/senders/{phone_number_id}``. The token travels inside the
    cluster over the authenticated internal call and the api stores it encrypted, so api
    pods need no per-sender Secret mounts; the reference names where it came from."""
    return {
        "tenant_slug": sender.tenant,
        "display_number": sender.display_number,
        "waba_id": sender.waba_id,
        "verified_name": info.verified_name,
        "quality_rating": info.quality_rating,
        "messaging_limit_tier": info.messaging_limit_tier,
        "access_token": token,
        "access_token_secret_ref": f"{sender.token_ref.name}/{sender.token_ref.key}",
        "status": "paused" if sender.paused else "active",
        "allocations": [{"team": team, "role": role} for team, role in sender.allocations],
    }


async def _phone_number_info(
    tenant: TenantSpec, phone_number_id: str, token: str
) -> PhoneNumberInfo:
    async with CloudAPIClient(
        tenant.graph_base_url, tenant.graph_api_version, max_retries=1
    ) as graph:
        return await graph.phone_number_info(phone_number_id, token)


def _internal(tenant: TenantSpec, kube: Kube) -> tuple[str, dict[str, str]] | None:
    keys = kube.secret_data(tenant.namespace, names.generated_secret(tenant.name))
    if not keys:
        return None
    return tenant.api_url + "/internal/senders/", {
        "Authorization": f"Bearer {keys['internalToken']}"
    }


def _tenant(kube: Kube, namespace: str, name: str) -> TenantSpec | None:
    body = kube.get(names.API_VERSION, "ScrmTenant", namespace, name)
    return None if body is None else TenantSpec.from_resource(body)


def reconcile_sender(kube: Kube, sender: SenderSpec, policy: Policy) -> Outcome:
    """The tenant's URLs are checked against the allow-lists before the token is read."""

    def failed(reason: str, message: str, retry: bool = True, **fields: Any) -> Outcome:
        return Outcome(Condition("False", reason, message), fields, retry)

    tenant = _tenant(kube, sender.namespace, sender.tenant)
    if tenant is None:
        return failed("TenantNotFound", f"ScrmTenant {sender.tenant} not found", published=False)
    try:
        policy.check_urls(tenant)
    except PolicyViolation as exc:
        return failed(exc.reason, str(exc), retry=False, published=False)
    secret = kube.secret_data(sender.namespace, sender.token_ref.name) or {}
    token = secret.get(sender.token_ref.key)
    if token is None:
        ref = f"{sender.token_ref.name}/{sender.token_ref.key}"
        return failed("FailedConfiguration", f"access token {ref} not found", published=False)
    try:
        info = asyncio.run(_phone_number_info(tenant, sender.phone_number_id, token))
    except WhatsAppError as exc:
        return failed("GraphAPIError", str(exc), retry=exc.retryable, published=False)
    except httpx.HTTPError as exc:
        return failed("GraphAPIUnreachable", f"{type(exc).__name__}: {exc}", published=False)
    fields: dict[str, Any] = {
        "verifiedName": info.verified_name,
        "qualityRating": info.quality_rating,
        "messagingLimitTier": info.messaging_limit_tier,
    }
    internal = _internal(tenant, kube)
    if internal is None:
        return failed("TenantNotReady", "the tenant's keys do not exist yet", **fields)
    base, headers = internal
    try:
        response = httpx.put(
            base + sender.phone_number_id,
            json=publication(sender, info, token),
            headers=headers,
            timeout=10,
        )
    except httpx.HTTPError as exc:
        message = f"{tenant.api_url} unreachable ({type(exc).__name__}); validated, not published"
        return failed("RuntimeUnreachable", message, published=False, **fields)
    if not response.is_success:
        message = f"runtime answered HTTP {response.status_code}: {response.text[:200]}"
        return failed("RuntimeRejected", message, published=False, **fields)
    state = "paused" if sender.paused else "active"
    condition = Condition("True", "Published", f"validated by Meta and {state} in the runtime")
    return Outcome(condition, {**fields, "published": True}, retry=False)


def withdraw_sender(kube: Kube, sender: SenderSpec, policy: Policy) -> None:
    """Withdraw the number from the runtime (conversations stay); 404 or no tenant = done.
    Nothing goes to an api URL the allow-list refuses (nothing was published there)."""
    tenant = _tenant(kube, sender.namespace, sender.tenant)
    if tenant is None:
        return
    try:
        policy.check_urls(tenant)
    except PolicyViolation:
        return
    internal = _internal(tenant, kube)
    if internal is None:
        return
    base, headers = internal
    response = httpx.delete(base + sender.phone_number_id, headers=headers, timeout=10)
    if response.status_code != 404:
        response.raise_for_status()
