"""Generated runtime keys: JWT secret, encryption key, internal token (created once)."""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet

from scrm_operator import names
from scrm_operator.builders.secrets import runtime_keys_secret
from scrm_operator.kube import Kube
from scrm_operator.spec import TenantSpec


def ensure_runtime_keys(kube: Kube, tenant: TenantSpec) -> str:
    """Create the keys Secret unless it exists; returns the internal token."""
    kube.create(
        runtime_keys_secret(
            tenant,
            jwt_secret=secrets.token_urlsafe(48),
            encryption_key=Fernet.generate_key().decode(),
            internal_token=secrets.token_urlsafe(32),
        )
    )
    data = kube.secret_data(tenant.namespace, names.generated_secret(tenant.name)) or {}
    return data["internalToken"]
