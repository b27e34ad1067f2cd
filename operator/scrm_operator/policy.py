"""What a ScrmTenant's author may make the operator do, from the operator's own config:
the image repositories pods may run, and the URLs that get Graph calls (with Sender tokens),
the internal publication (with the tenant's internal token and Sender tokens) and the media
store's S3 requests (signed with the bucket's access key).

An empty allow-list allows anything (the chart sets restrictive ones). URL entries are
``scheme://host[:port]``; the host may start with ``*.`` (any subdomain) and the port may
be ``*``; a URL's path, user info and query never matter, only where it connects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from scrm_operator.spec import TenantSpec

DEFAULT_PORTS = {"http": 80, "https": 443}


class PolicyViolation(ValueError):
    """The spec asks for something the allow-lists refuse; ``reason`` names which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def image_allowed(repository: str, allowed: Sequence[str]) -> bool:
    """``ghcr.io/scrm`` allows ``ghcr.io/scrm`` and ``ghcr.io/scrm/…``, not ``ghcr.io/scrmx``."""
    return not allowed or any(
        repository == entry.rstrip("/") or repository.startswith(entry.rstrip("/") + "/")
        for entry in allowed
    )


def _origin(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    return parts.scheme, (parts.hostname or "").lower(), str(port)


def _matches(url: str, entry: str) -> bool:
    scheme, host, port = _origin(url)
    e_scheme, rest = entry.split("://", 1) if "://" in entry else ("", entry)
    e_host, _, e_port = rest.partition(":")
    e_host = e_host.lower()
    e_port = e_port or str(DEFAULT_PORTS.get(e_scheme, 0))
    host_ok = host == e_host or (
        e_host.startswith("*.") and host.endswith(e_host[1:]) and len(host) > len(e_host) - 1
    )
    return scheme == e_scheme and host_ok and e_port in ("*", port)


def url_allowed(url: str, allowed: Sequence[str]) -> bool:
    return not allowed or any(_matches(url, entry) for entry in allowed)


@dataclass(frozen=True)
class Policy:
    image_repositories: tuple[str, ...] = ()
    graph_urls: tuple[str, ...] = ()
    internal_urls: tuple[str, ...] = ()
    media_urls: tuple[str, ...] = ()

    def check_urls(self, tenant: TenantSpec) -> None:
        """Before any call that carries a token."""
        if not url_allowed(tenant.graph_base_url, self.graph_urls):
            raise PolicyViolation(
                "FailedURLPolicy",
                f"whatsapp.graphBaseUrl {tenant.graph_base_url!r} is not allowed "
                f"(allowed: {', '.join(self.graph_urls)})",
            )
        if tenant.api_internal_url and not url_allowed(tenant.api_internal_url, self.internal_urls):
            raise PolicyViolation(
                "FailedURLPolicy",
                f"api.internalUrl {tenant.api_internal_url!r} is not allowed "
                f"(allowed: {', '.join(self.internal_urls)})",
            )
        s3 = tenant.media.s3
        if s3 is not None and not url_allowed(s3.endpoint, self.media_urls):
            raise PolicyViolation(
                "FailedURLPolicy",
                f"media.s3.endpoint {s3.endpoint!r} is not allowed "
                f"(allowed: {', '.join(self.media_urls)})",
            )

    def check(self, tenant: TenantSpec) -> None:
        """Before anything of the tenant is made or changed."""
        if not image_allowed(tenant.image, self.image_repositories):
            raise PolicyViolation(
                "FailedImagePolicy",
                f"image repository {tenant.image!r} is not allowed "
                f"(allowed: {', '.join(self.image_repositories)}); no pod runs it",
            )
        self.check_urls(tenant)
