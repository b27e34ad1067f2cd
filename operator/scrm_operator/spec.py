"""Typed view of a ScrmTenant's spec; the API server applies the CRD defaults, the
fallbacks here only matter for objects built in unit tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

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


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rules
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


@dataclass(frozen=True)
class S3Media:
    """``spec.media.s3``: the bucket; the access key stays in the named Secret."""

    endpoint: str
    bucket: str
    region: str
    credentials_secret: str
    access_key_id_key: str
    secret_access_key_key: str

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> S3Media:
        credentials = raw.get("credentialsSecretRef") or {}
        return cls(
            endpoint=str(raw.get("endpoint", "")),
            bucket=str(raw.get("bucket", "")),
            region=str(raw.get("region", "us-east-1")),
            credentials_secret=str(credentials.get("name", "")),
            access_key_id_key=str(credentials.get("accessKeyIdKey", "accessKeyId")),
            secret_access_key_key=str(credentials.get("secretAccessKeyKey", "secretAccessKey")),
        )

    def problems(self) -> list[str]:
        endpoint = urlsplit(self.endpoint)
        found = []
        if (
            endpoint.scheme not in ("http", "https")
            or not endpoint.hostname
            or endpoint.username is not None
            or endpoint.path not in ("", "/")
            or endpoint.query
            or endpoint.fragment
        ):
            found.append(
                f"spec.media.s3.endpoint {self.endpoint!r} must be http(s)://host[:port] "
                "(no path, query or credentials)"
            )
        if not _BUCKET.match(self.bucket):
            found.append(f"spec.media.s3.bucket {self.bucket!r} is not an S3 bucket name")
        if not _REGION.match(self.region):
            found.append(f"spec.media.s3.region {self.region!r} is not a region name")
        if not _SECRET_NAME.match(self.credentials_secret):
            found.append("spec.media.s3.credentialsSecretRef.name must name a Secret")
        for key in (self.access_key_id_key, self.secret_access_key_key):
            if not _SECRET_KEY.match(key):
                found.append(f"spec.media.s3.credentialsSecretRef key {key!r} is not a Secret key")
        return found


@dataclass(frozen=True)
class MediaSpec:
    """``spec.media``: where every api and sender-worker pod keeps and reads media files.
    Parsed leniently; :meth:`check` refuses what the CRD schema would (an object written
    under an older CRD, or built by hand), so a bad spec ends in the Failed condition."""

    store: str = "database"
    s3: S3Media | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> MediaSpec:
        s3 = raw.get("s3")
        return cls(str(raw.get("store", "database")), S3Media.parse(s3) if s3 else None)

    def check(self) -> None:
        """ValueError naming every problem."""
        found = []
        if self.store not in ("database", "s3"):
            found.append(f"spec.media.store must be database or s3, not {self.store!r}")
        if (self.store == "s3") != (self.s3 is not None):
            found.append("set spec.media.s3 exactly when spec.media.store is s3")
        if self.s3 is not None:
            found += self.s3.problems()
        if found:
            raise ValueError("; ".join(found))


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
    media: MediaSpec = MediaSpec()
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
            media=MediaSpec.parse(spec.get("media") or {}),
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
