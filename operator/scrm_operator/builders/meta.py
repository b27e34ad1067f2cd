"""Labels, ownership and metadata common to every child of a tenant."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from scrm_operator import names
from scrm_operator.spec import TenantSpec

Manifest = dict[str, Any]


def labels(tenant: TenantSpec, component: str) -> dict[str, str]:
    """Labels on every child and pod; ``selector_labels`` is the immutable subset."""
    return {
        **selector_labels(tenant, component),
        names.NAME: "scrm",
        names.MANAGED_BY: names.FIELD_MANAGER,
        names.VERSION_LABEL: tenant.image_tag,
    }


def selector_labels(tenant: TenantSpec, component: str) -> dict[str, str]:
    return {
        names.PART_OF: "scrm",
        names.INSTANCE: tenant.name,
        names.TENANT_LABEL: tenant.name,
        names.COMPONENT: component,
    }


def owner_reference(tenant: TenantSpec) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "ScrmTenant",
        "name": tenant.name,
        "uid": tenant.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(tenant: TenantSpec, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": tenant.namespace,
        "labels": labels(tenant, component),
        "ownerReferences": [owner_reference(tenant)],
    }


def digest(value: Any, length: int = 10) -> str:
    """Short stable hash of a JSON-serialisable value (config checksums, Job names)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
