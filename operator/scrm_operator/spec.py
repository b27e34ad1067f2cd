"""Typed view of a ScrmTenant's spec; the API server applies the CRD defaults, the
fallbacks here only matter for objects built in unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from scrm_operator.names import database_secret

Mode = Literal["fanout", "routed"]


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> SecretKeyRef:
        return cls(raw["name"], raw["key"])


@dataclass(frozen=True)
class Autoscaling:
    enabled: bool = True
    min_replicas: int = 2
    max_replicas: int = 10
    metric: Literal["cpu", "connections"] = "cpu"
    target_cpu: int = 70
    target_connections: int = 2000


@dataclass(frozen=True)
class TenantSpec:
    """Everything the builders read; ``name``/``namespace``/``uid`` identify the owner."""

    name: str
    namespace: str
    uid: str
    display_name: str
    phone_region: str
    image: str
    image_tag: str
    pull_policy: str
    mode: Mode
    api_replicas: int
    api_resources: dict[str, Any]
    api_internal_url: str | None
    ws_replicas: int
    ws_grace_seconds: int
    ws_resources: dict[str, Any]
    autoscaling: Autoscaling
    sender_worker_replicas: int
    sender_worker_resources: dict[str, Any]
    database_url_ref: SecretKeyRef
    shared_database: dict[str, Any] | None
    rabbitmq_secret: str
    app_secret_ref: SecretKeyRef
    verify_token_ref: SecretKeyRef
    graph_base_url: str
    graph_api_version: str
    ingress: dict[str, Any] | None
    # Hash of the generated Secrets the pods read (set by the reconciler, not the spec):
    # regenerating one changes the pod templates, which rolls the pods.
    credentials_hash: str = ""

    @classmethod
    def from_resource(cls, body: Any) -> TenantSpec:
        meta, spec = body["metadata"], body["spec"]
        name = meta["name"]
        image, api, ws = spec.get("image", {}), spec.get("api", {}), spec.get("ws", {})
        sender_worker = spec.get("senderWorker", {})
        hpa = ws.get("autoscaling", {})
        database = spec["database"]
        whatsapp = spec["whatsapp"]
        url_ref = database.get("urlSecretRef")
        return cls(
            name=name,
            namespace=meta["namespace"],
            uid=meta["uid"],
            display_name=spec["displayName"],
            phone_region=spec.get("defaultPhoneRegion", "ID"),
            image=image.get("repository", "ghcr.io/scrm/scrm"),
            image_tag=image.get("tag", "0.1.0"),
            pull_policy=image.get("pullPolicy", "IfNotPresent"),
            mode=spec.get("deliveryMode", "fanout"),
            api_replicas=api.get("replicas", 2),
            api_resources=dict(api.get("resources", {})),
            api_internal_url=api.get("internalUrl"),
            ws_replicas=ws.get("replicas", 2),
            ws_grace_seconds=ws.get("terminationGracePeriodSeconds", 60),
            ws_resources=dict(ws.get("resources", {})),
            autoscaling=Autoscaling(
                enabled=hpa.get("enabled", True),
                min_replicas=hpa.get("minReplicas", 2),
                max_replicas=hpa.get("maxReplicas", 10),
                metric=hpa.get("metric", "cpu"),
                target_cpu=hpa.get("targetCPUUtilizationPercentage", 70),
                target_connections=hpa.get("targetConnectionsPerPod", 2000),
            ),
            sender_worker_replicas=sender_worker.get("replicas", 2),
            sender_worker_resources=dict(sender_worker.get("resources", {})),
            # A shared server means the operator writes the URL into its own Secret.
            database_url_ref=(
                SecretKeyRef.parse(url_ref)
                if url_ref
                else SecretKeyRef(database_secret(name), "url")
            ),
            shared_database=database.get("sharedServer"),
            rabbitmq_secret=spec["rabbitmq"]["secretRef"]["name"],
            app_secret_ref=SecretKeyRef.parse(whatsapp["appSecretRef"]),
            verify_token_ref=SecretKeyRef.parse(whatsapp["verifyTokenRef"]),
            graph_base_url=whatsapp.get("graphBaseUrl", "https://graph.facebook.com"),
            graph_api_version=whatsapp.get("graphApiVersion", "v25.0"),
            ingress=spec.get("ingress"),
        )

    @property
    def api_works_the_queue(self) -> bool:
        """The api pods send only while no sender-worker does."""
        return self.sender_worker_replicas == 0

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.image_tag}"

    @property
    def api_url(self) -> str:
        """Base URL of the api's internal endpoints, as the operator reaches them."""
        default = f"http://{self.name}-api.{self.namespace}.svc:8000"
        return (self.api_internal_url or default).rstrip("/")
