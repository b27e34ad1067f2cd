"""References to a key of a mounted Kubernetes Secret, ``"name/key"``: one pattern everywhere.

The API schemas, the internal endpoint, the token resolver and the CRDs (``name`` and ``key``
separately) all use these patterns, so a reference can never walk out of the secrets directory.
"""

from __future__ import annotations

import re

# A DNS-1123 subdomain, as Kubernetes requires of a Secret's name (no "..", no "/").
SECRET_NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# A Secret data key: Kubernetes' characters, and never ".", ".." or a leading "..".
SECRET_KEY = r"\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*"
SECRET_NAME_PATTERN = rf"^{SECRET_NAME}$"
SECRET_KEY_PATTERN = rf"^{SECRET_KEY}$"
SECRET_REF_PATTERN = rf"^{SECRET_NAME}/{SECRET_KEY}$"
SECRET_REF_MAX_LENGTH = 300

_SECRET_REF = re.compile(SECRET_REF_PATTERN)


def split_secret_ref(ref: str) -> tuple[str, str] | None:
    """``(name, key)`` of a well-formed reference, else ``None``."""
    if len(ref) > SECRET_REF_MAX_LENGTH or not _SECRET_REF.fullmatch(ref):
        return None
    name, key = ref.split("/", 1)
    return name, key
