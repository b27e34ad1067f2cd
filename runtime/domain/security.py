"""Password hashing (argon2), JWT access tokens, opaque refresh tokens, secret encryption."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

# Test suites set SCRM_INSECURE_FAST_PASSWORD_HASHING=1: argon2id at its lowest cost, the
# same code paths at ~1/300 of the CPU (every test tenant and agent hashes and verifies a
# password). Never in production: importing this module warns when it is set.
FAST_HASHING_ENV = "SCRM_INSECURE_FAST_PASSWORD_HASHING"
if os.environ.get(FAST_HASHING_ENV) == "1":
    logging.getLogger(__name__).warning("%s=1: passwords are hashed insecurely", FAST_HASHING_ENV)
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
else:
    _hasher = PasswordHasher()
# A real hash to verify against when the e-mail is unknown, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class AccessClaims:
    """``version``: the agent's ``token_version`` at issue (a bump refuses older tokens);
    ``sid``: the refresh-token family (one sign-in) the token belongs to."""

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    version: int = 0
    sid: uuid.UUID | None = None
    expires_at: datetime | None = None  # set when decoded


def issue_access_token(claims: AccessClaims, secret: str, ttl_seconds: int) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": str(claims.agent_id),
        "tid": str(claims.tenant_id),
        "typ": "access",
        "ver": claims.version,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds),
    }
    if claims.sid is not None:
        payload["sid"] = str(claims.sid)
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_access_token(token: str, secret: str) -> AccessClaims | None:
    """The token's claims, or None when it is forged, expired or not an access token."""
    try:
        data = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
        if data.get("typ") != "access":
            return None
        version = data.get("ver", 0)
        if not isinstance(version, int):
            return None
        sid = uuid.UUID(data["sid"]) if "sid" in data else None
        expires_at = datetime.fromtimestamp(data["exp"], UTC)
        return AccessClaims(
            uuid.UUID(data["sub"]), uuid.UUID(data["tid"]), version, sid, expires_at
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError, OverflowError):
        return None


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def encrypt_secret(plaintext: str, key: str) -> str:
    return Fernet(key.encode()).encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str, key: str) -> str | None:
    try:
        return Fernet(key.encode()).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None
