"""The RabbitMQ naming contract; the operator cleans up by these names, so keep them stable.

- exchange per tenant and mode: ``scrm.<tenant>.fanout`` (type fanout) or
  ``scrm.<tenant>.routed`` (type direct)
- queue per tenant and ws pod: ``scrm.<tenant>.ws.<pod>``
"""

from __future__ import annotations

import os
import re
import socket

PREFIX = "scrm"
_SLUG = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _checked(kind: str, value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"{kind} {value!r} must be a lowercase DNS label")
    return value


def exchange_name(tenant: str, mode: str) -> str:
    return f"{PREFIX}.{_checked('tenant', tenant)}.{mode}"


def queue_name(tenant: str, pod: str) -> str:
    return f"{PREFIX}.{_checked('tenant', tenant)}.ws.{pod}"


def parse_queue_name(name: str) -> tuple[str, str] | None:
    """``(tenant, pod)`` of a ws queue name, or None when the name is not one of ours."""
    prefix, _, rest = name.partition(".")
    tenant, _, rest = rest.partition(".")
    kind, _, pod = rest.partition(".")
    if prefix != PREFIX or kind != "ws" or not pod or not _SLUG.match(tenant):
        return None
    return tenant, pod


def pod_name(configured: str | None = None) -> str:
    """This pod's name: the setting, else ``POD_NAME`` (Downward API), else the hostname."""
    return configured or os.environ.get("POD_NAME") or socket.gethostname()
