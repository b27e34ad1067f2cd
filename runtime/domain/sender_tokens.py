"""The access token of a sender: decrypted from the database or read from a mounted Secret."""

from __future__ import annotations

from pathlib import Path

from runtime.domain.errors import Conflict
from runtime.domain.secret_refs import split_secret_ref
from runtime.domain.security import decrypt_secret
from runtime.models import Sender
from runtime.settings import Settings


def read_mounted_secret(ref: str, settings: Settings) -> str | None:
    """The value of a ``name/key`` reference in the secrets directory; ``None`` when it is not
    there or the reference is malformed (it could otherwise point outside the directory)."""
    parts = split_secret_ref(ref)
    path = None if parts is None else Path(settings.secrets_dir).joinpath(*parts)
    return path.read_text().strip() if path is not None and path.is_file() else None


def resolve_token(sender: Sender, settings: Settings) -> str:
    if sender.access_token_encrypted:
        token = decrypt_secret(
            sender.access_token_encrypted, settings.encryption_key.get_secret_value()
        )
        if token is not None:
            return token
    elif sender.access_token_secret_ref:
        token = read_mounted_secret(sender.access_token_secret_ref, settings)
        if token is not None:
            return token
    raise Conflict(
        "sender_token_unavailable",
        f"The access token of sender {sender.display_number} cannot be read.",
    )
