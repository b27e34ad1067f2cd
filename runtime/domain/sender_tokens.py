"""The access token of a sender: decrypted from the database or read from a mounted Secret."""

from __future__ import annotations

from pathlib import Path

from runtime.domain.errors import Conflict
from runtime.domain.security import decrypt_secret
from runtime.models import Sender
from runtime.settings import Settings


def resolve_token(sender: Sender, settings: Settings) -> str:
    if sender.access_token_encrypted:
        token = decrypt_secret(
            sender.access_token_encrypted, settings.encryption_key.get_secret_value()
        )
        if token is not None:
            return token
    elif sender.access_token_secret_ref:
        name, key = sender.access_token_secret_ref.split("/", 1)
        path = Path(settings.secrets_dir) / name / key
        if path.is_file():
            return path.read_text().strip()
    raise Conflict(
        "sender_token_unavailable",
        f"The access token of sender {sender.display_number} cannot be read.",
    )
