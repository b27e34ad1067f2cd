"""AWS Signature Version 4 for S3 requests (header-based), with nothing but the stdlib.

Follows AWS's "Authenticating Requests: Using the Authorization Header" (S3 API reference):
canonical request → string to sign → key derived from the secret by date, region and
service → ``Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), day)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def canonical_request(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], payload_hash: str
) -> tuple[str, str]:
    """(canonical request, signed header names); ``headers`` must include ``host``."""
    names = sorted(name.lower() for name in headers)
    values = {name.lower(): " ".join(value.strip().split()) for name, value in headers.items()}
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    lines = [
        method,
        quote(path, safe="/-_.~"),
        canonical_query,
        "".join(f"{name}:{values[name]}\n" for name in names),
        ";".join(names),
        payload_hash,
    ]
    return "\n".join(lines), ";".join(names)


def sign(
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    region: str,
    moment: datetime,
    query: dict[str, str] | None = None,
    service: str = "s3",
) -> str:
    """The ``Authorization`` header value. ``headers`` (with ``host``) are the ones signed;
    they must carry ``x-amz-date`` = ``moment`` as ``YYYYMMDDTHHMMSSZ`` and, for S3,
    ``x-amz-content-sha256`` = ``payload_hash``."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    request, signed = canonical_request(method, path, query or {}, headers, payload_hash)
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    signature = hmac.new(
        signing_key(secret_key, day, region, service), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )
