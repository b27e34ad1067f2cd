"""The access token of a sender: decrypted from the database or read from a mounted Secret."""

from __future__ import annotations

from pathlib import Path

from runtime.domain.errors import Conflict
from runtime.domain.secret_refs import split_secret_ref
from runtime.domain.security import decrypt_secret
from runtime.models import Sender
from runtime.settings import Settings


def _mounted_key(ref: str, settings: Settings) -> Path | None:
    """The file of a ``name/key`` reference under the secrets directory; ``None`` when the
    reference is malformed (it could otherwise point outside the directory)."""
    parts = split_secret_ref(ref)
    return None if parts is None else Path(settings.secrets_dir).joinpath(*parts)


def resolve_token(sender: Sender, settings: Settings) -> str:
    if sender.access_token_encrypted:
        token = decrypt_secret(
            sender.access_token_encrypted, settings.encryption_key.get_secret_value()
        )
        if token is not None:
            return token
    elif sender.access_token_secret_ref:
        path = _mounted_key(sender.access_token_secret_ref, settings)
        if path is not None and path.is_file():
            return path.read_text().strip()
    raise Conflict(
        "sender_token_unavailable",
        f"The access token of sender {sender.display_number} cannot be read.",
    )
