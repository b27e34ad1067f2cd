"""The few Kubernetes calls the operator makes, on the official client.

Children are written with server-side apply (``application/apply-patch+yaml``, field
manager ``scrm-operator``, conflicts forced): applying the same manifest twice is a no-op
for the API server, which is what makes resync and operator restarts change nothing.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from scrm_operator import names

Manifest = dict[str, Any]

# kind -> plural; the group/version comes from the manifest's apiVersion.
PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "Service": "services",
    "Pod": "pods",
    "Deployment": "deployments",
    "Job": "jobs",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "ScrmTenant": names.TENANTS,
    "Sender": names.SENDERS,
}


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{path}/{name}" if name else path


class Kube:
    """Thin synchronous wrapper; kopf runs sync handlers in its thread pool."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    @classmethod
    def from_environment(cls) -> Kube:
        """In-cluster service account, else ``$KUBECONFIG`` / ``~/.kube/config``."""
        try:
            config.load_incluster_config()
        except config.ConfigException:
            # Read $KUBECONFIG now: the client's default path is frozen at import time.
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        return cls(client.ApiClient())

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Manifest | list[Manifest] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method, url, headers, _, _ = self.api.param_serialize(
            method, path, query_params=query, header_params=headers, auth_settings=["BearerToken"]
        )
        # The REST layer serialises dict bodies as JSON (valid YAML for apply-patch+yaml).
        response = self.api.call_api(method, url, header_params=headers, body=body)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def apply(self, manifest: Manifest) -> Manifest:
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        result: Manifest = self.request(
            "PATCH",
            f"{path}/{meta['name']}",
            query=[("fieldManager", names.FIELD_MANAGER), ("force", "true")],
            body=manifest,
            content_type="application/apply-patch+yaml",
        )
        return result

    def create(self, manifest: Manifest) -> bool:
        """Create unless it exists; False when it already did (generated secrets)."""
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        try:
            self.request("POST", path, body=manifest)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        try:
            result: Manifest = self.request(
                "GET", resource_path(api_version, kind, namespace, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[Manifest]:
        result = self.request(
            "GET",
            resource_path(api_version, kind, namespace),
            query=[("labelSelector", label_selector)],
        )
        items: list[Manifest] = result.get("items", [])
        return items

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete with background propagation; False when it was already gone."""
        try:
            self.request(
                "DELETE",
                resource_path(api_version, kind, namespace, name),
                query=[("propagationPolicy", "Background")],
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def merge_patch(
        self, api_version: str, kind: str, namespace: str, name: str, patch: Manifest
    ) -> None:
        path = resource_path(api_version, kind, namespace, name)
        self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def add_finalizer(
        self, api_version: str, kind: str, namespace: str, name: str, finalizer: str
    ) -> None:
        """Add ``finalizer`` unless present (or the object is gone)."""
        found = self.get(api_version, kind, namespace, name)
        current = [] if found is None else found["metadata"].get("finalizers") or []
        if found is not None and finalizer not in current:
            self._set_finalizers(api_version, kind, found, [*current, finalizer])

    def remove_finalizer(
        self, api_version: str, kind: str, namespace: str, name: str, finalizer: str
    ) -> None:
        found = self.get(api_version, kind, namespace, name)
        current = [] if found is None else found["metadata"].get("finalizers") or []
        if found is not None and finalizer in current:
            kept = [f for f in current if f != finalizer]
            self._set_finalizers(api_version, kind, found, kept)

    def _set_finalizers(
        self, api_version: str, kind: str, found: Manifest, finalizers: Sequence[str]
    ) -> None:
        """A JSON patch guarded by the resourceVersion read: a concurrent change fails it
        (HTTP 422) instead of being overwritten, and the next pass tries again."""
        meta = found["metadata"]
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "add", "path": "/metadata/finalizers", "value": list(finalizers)},
        ]
        path = resource_path(api_version, kind, meta["namespace"], meta["name"])
        self.request("PATCH", path, body=ops, content_type="application/json-patch+json")

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """Decoded data of a Secret, or None when it does not exist."""
        secret = self.get("v1", "Secret", namespace, name)
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
