"""RabbitMQ management HTTP API: the tenant's vhost, user, permissions, exchange, queues.

Every delete treats 404 as done, so cleanup is idempotent and can be retried safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from runtime.bus import naming
from runtime.bus.management import management_api

EXCHANGE_TYPES = {"fanout": "fanout", "routed": "direct"}


class RabbitError(RuntimeError):
    """A management API call failed (not a 404 on delete)."""


@dataclass(frozen=True)
class Broker:
    """Where the broker is, from the ScrmTenant's ``spec.rabbitmq.secretRef`` Secret."""

    management_url: str  # without credentials
    username: str
    password: str
    amqp_url: str

    @classmethod
    def from_secret(cls, data: dict[str, str]) -> Broker:
        missing = {"managementUrl", "amqpUrl"} - data.keys()
        if missing:
            raise ValueError(f"RabbitMQ secret lacks keys: {', '.join(sorted(missing))}")
        api = management_api(data["managementUrl"])
        return cls(api.url, *api.auth, data["amqpUrl"])

    def tenant_amqp_url(self, user: str, password: str, vhost: str) -> str:
        parts = urlsplit(self.amqp_url)
        host = parts.hostname or "localhost"
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def tenant_pattern(tenant: str) -> str:
    """Permission regex: the tenant's user may only touch ``scrm.<tenant>.*`` objects."""
    return "^" + re.escape(f"{naming.PREFIX}.{tenant}.")


class RabbitAdmin:
    def __init__(self, broker: Broker, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=broker.management_url + "/api",
            auth=(broker.username, broker.password),
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RabbitAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        gone = method == "DELETE" and response.status_code == 404
        if response.status_code >= 400 and not gone:
            raise RabbitError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        return response

    @staticmethod
    def _q(value: str) -> str:
        return quote(value, safe="")

    def ensure_vhost(self, vhost: str, description: str) -> None:
        self._request("PUT", f"/vhosts/{self._q(vhost)}", json={"description": description})

    def vhost_description(self, vhost: str) -> str | None:
        """The vhost's description ("" when it has none); None when it does not exist."""
        response = self._http.get(f"/vhosts/{self._q(vhost)}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise RabbitError(f"GET /vhosts/{vhost}: HTTP {response.status_code}")
        return str(response.json().get("description") or "")

    def ensure_user(self, user: str, password: str) -> None:
        self._request("PUT", f"/users/{self._q(user)}", json={"password": password, "tags": ""})

    def grant(self, vhost: str, user: str, pattern: str) -> None:
        body = {"configure": pattern, "write": pattern, "read": pattern}
        self._request("PUT", f"/permissions/{self._q(vhost)}/{self._q(user)}", json=body)

    def declare_exchange(self, vhost: str, name: str, kind: str) -> None:
        body = {"type": kind, "durable": True, "auto_delete": False, "internal": False}
        self._request("PUT", f"/exchanges/{self._q(vhost)}/{self._q(name)}", json=body)

    def delete_exchange_if_unused(self, vhost: str, name: str) -> None:
        """Deleted only when nothing is bound to it (HTTP 400 otherwise, which we ignore)."""
        path = f"/exchanges/{self._q(vhost)}/{self._q(name)}"
        response = self._http.delete(path, params={"if-unused": "true"})
        if response.status_code >= 500:
            raise RabbitError(f"DELETE {path}: HTTP {response.status_code}")

    def exchanges(self, vhost: str) -> set[str]:
        data = self._request("GET", f"/exchanges/{self._q(vhost)}").json()
        return {e["name"] for e in data}

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        params = {"columns": "name,consumers"}
        response = self._http.get(f"/queues/{self._q(vhost)}", params=params)
        if response.status_code == 404:  # vhost gone
            return []
        if response.status_code >= 400:
            raise RabbitError(f"GET queues of {vhost}: HTTP {response.status_code}")
        result: list[dict[str, Any]] = response.json()
        return result

    def delete_queue(self, vhost: str, name: str) -> bool:
        """False when it did not exist."""
        response = self._request("DELETE", f"/queues/{self._q(vhost)}/{self._q(name)}")
        return response.status_code != 404

    def delete_vhost(self, vhost: str) -> bool:
        return self._request("DELETE", f"/vhosts/{self._q(vhost)}").status_code != 404

    def delete_user(self, user: str) -> bool:
        return self._request("DELETE", f"/users/{self._q(user)}").status_code != 404

    def cluster_name(self) -> str:
        """Tells two brokers apart, whatever URL reaches them."""
        return str(self._request("GET", "/cluster-name").json()["name"])

    def vhost_exists(self, vhost: str) -> bool:
        return self._http.get(f"/vhosts/{self._q(vhost)}").status_code == 200
