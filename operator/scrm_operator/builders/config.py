"""The tenant's ConfigMap and the environment every runtime container gets."""

from __future__ import annotations

from typing import Any

from scrm_operator import names
from scrm_operator.builders.meta import Manifest, metadata
from scrm_operator.spec import SecretKeyRef, TenantSpec


def config_data(tenant: TenantSpec) -> dict[str, str]:
    return {
        "SCRM_TENANT_SLUG": tenant.name,
        "SCRM_TENANT_NAME": tenant.display_name,
        "SCRM_DEFAULT_PHONE_REGION": tenant.phone_region,
        "SCRM_DELIVERY_MODE": tenant.mode,
        "SCRM_GRAPH_BASE_URL": tenant.graph_base_url,
        "SCRM_GRAPH_API_VERSION": tenant.graph_api_version,
        "SCRM_OUTBOUND_WORK": "true" if tenant.api_works_the_queue else "false",
        **media_config(tenant),
    }


def media_config(tenant: TenantSpec) -> dict[str, str]:
    """The media store every pod uses: never a pod's own directory (replicas must see the
    same bytes, and the root filesystem is read-only)."""
    s3 = tenant.media.s3
    if s3 is None:
        return {"SCRM_MEDIA_STORE": tenant.media.store}
    return {
        "SCRM_MEDIA_STORE": "s3",
        "SCRM_MEDIA_S3_ENDPOINT": s3.endpoint,
        "SCRM_MEDIA_S3_BUCKET": s3.bucket,
        "SCRM_MEDIA_S3_REGION": s3.region,
    }


def config_map(tenant: TenantSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(tenant, names.config_name(tenant.name), "config"),
        "data": config_data(tenant),
    }


def _secret_env(name: str, ref: SecretKeyRef) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def runtime_env(tenant: TenantSpec) -> list[dict[str, Any]]:
    """Secret-backed variables; plain settings come from the ConfigMap via ``envFrom``."""
    keys = names.generated_secret(tenant.name)
    return [
        _secret_env("SCRM_DATABASE_URL", tenant.database_url_ref),
        _secret_env("SCRM_AMQP_URL", SecretKeyRef(names.rabbitmq_secret(tenant.name), "amqpUrl")),
        _secret_env("SCRM_JWT_SECRET", SecretKeyRef(keys, "jwtSecret")),
        _secret_env("SCRM_ENCRYPTION_KEY", SecretKeyRef(keys, "encryptionKey")),
        _secret_env("SCRM_INTERNAL_TOKEN", SecretKeyRef(keys, "internalToken")),
        _secret_env("SCRM_WHATSAPP_APP_SECRET", tenant.app_secret_ref),
        _secret_env("SCRM_WHATSAPP_VERIFY_TOKEN", tenant.verify_token_ref),
    ]


def media_credentials_env(tenant: TenantSpec) -> list[dict[str, Any]]:
    """The bucket's access key, from its Secret, for the pods that read and write media
    (api, sender-worker); none for the database store."""
    s3 = tenant.media.s3
    if s3 is None:
        return []
    return [
        _secret_env(
            "SCRM_MEDIA_S3_ACCESS_KEY_ID", SecretKeyRef(s3.credentials_secret, s3.access_key_id_key)
        ),
        _secret_env(
            "SCRM_MEDIA_S3_SECRET_ACCESS_KEY",
            SecretKeyRef(s3.credentials_secret, s3.secret_access_key_key),
        ),
    ]


def env_from(tenant: TenantSpec) -> list[dict[str, Any]]:
    return [{"configMapRef": {"name": names.config_name(tenant.name)}}]
