"""The RabbitMQ management API's address and login, from its URL
(``http://user:password@host:15672``): the one parser of that URL (the relay's pod map, the
operator, tests and benches)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ManagementApi:
    """``url``: the API's root (``http://host:15672``; requests go to ``{url}/api/…``),
    without the credentials, so it may show in a log line or an error; ``auth``: the
    (user, password) for the HTTP client, never shown (not even in a repr)."""

    url: str
    auth: tuple[str, str] = field(repr=False)


def management_api(url: str) -> ManagementApi:
    """``url`` split into where the API is and who logs in (``guest`` for what it omits)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or "localhost"
    if parts.port:
        netloc += f":{parts.port}"
    return ManagementApi(
        f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}",
        (
            urllib.parse.unquote(parts.username or "guest"),
            urllib.parse.unquote(parts.password or "guest"),
        ),
    )
