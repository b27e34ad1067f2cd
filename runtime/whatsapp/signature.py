"""``X-Hub-Signature-256`` signing and verification of webhook bodies."""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """Return the header value ``sha256=<hex HMAC-SHA256 of body keyed by app_secret>``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(body: bytes, header: str | None, app_secret: str) -> bool:
    """Check ``header`` against the raw ``body`` in constant time; ``False`` when missing."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(body, app_secret).encode(), header.encode())
