"""X-Hub-Signature-256 signing and verification."""

from __future__ import annotations

import hashlib
import hmac

from runtime.whatsapp.signature import sign, verify

BODY = b'{"object":"whatsapp_business_account","entry":[]}'
SECRET = "s3cret"


def test_sign_is_prefixed_hex_hmac_sha256() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"


def test_verify_accepts_a_good_signature() -> None:
    assert verify(BODY, sign(BODY, SECRET), SECRET)


def test_verify_rejects_tampered_body_wrong_secret_and_bad_headers() -> None:
    good = sign(BODY, SECRET)
    assert not verify(BODY + b" ", good, SECRET)
    assert not verify(BODY, sign(BODY, "other"), SECRET)
    assert not verify(BODY, good.removeprefix("sha256="), SECRET)
    assert not verify(BODY, "sha256=ünïcode", SECRET)


def test_verify_rejects_missing_header() -> None:
    assert not verify(BODY, None, SECRET)
    assert not verify(BODY, "", SECRET)
