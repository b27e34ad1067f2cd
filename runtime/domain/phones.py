"""Phone numbers in E.164, parsed with the tenant's default region."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str, region: str) -> str:
    """``raw`` as E.164 (``+6281234567890``); raises InvalidPhone with a reason."""
    text = raw.strip()
    if not text:
        raise InvalidPhone("phone is empty")
    if len(text) > 40:
        raise InvalidPhone("phone is too long")
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"not a valid phone number for region {region.upper()}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
