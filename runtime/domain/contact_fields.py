"""Validation of one contact's fields, shared by the JSON API, bulk import and CSV import."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from runtime.domain.phones import InvalidPhone, normalize_phone

MAX_TAGS = 50
MAX_ATTRIBUTES = 50
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
AttrValue = str | int | float | bool | None


class FieldError(ValueError):
    def __init__(self, field_name: str, code: str, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.field = field_name
        self.code = code
        self.message = message
        self.value = value


@dataclass
class ContactFields:
    phone: str
    name: str | None = None
    email: str | None = None
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def clean_phone(raw: str, region: str) -> str:
    try:
        return normalize_phone(raw, region)
    except InvalidPhone as exc:
        raise FieldError("phone", "invalid_phone", str(exc), raw) from exc


def clean_email(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldError("email", "invalid_email", str(exc), raw) from exc


def clean_tags(tags: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))
    if len(cleaned) > MAX_TAGS:
        raise FieldError("tags", "too_many_tags", f"at most {MAX_TAGS} tags")
    for tag in cleaned:
        if len(tag) > 50:
            raise FieldError("tags", "invalid_tag", "a tag is at most 50 characters", tag)
    return cleaned


def clean_attributes(attributes: dict[str, Any]) -> dict[str, AttrValue]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise FieldError("attributes", "too_many_attributes", f"at most {MAX_ATTRIBUTES}")
    for key, value in attributes.items():
        if not _KEY.match(key):
            raise FieldError(
                "attributes",
                "invalid_attribute_key",
                "attribute keys are 1-64 letters, digits, '_', '.', '-' and start with a letter",
                key,
            )
        if not isinstance(value, str | int | float | bool | type(None)):
            raise FieldError("attributes", "invalid_attribute_value", "scalar values only", key)
        if isinstance(value, str) and len(value) > 1000:
            raise FieldError("attributes", "invalid_attribute_value", "at most 1000 chars", key)
    return dict(attributes)


def time_zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone called ``name`` (e.g. ``Asia/Makassar``), or None."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def clean_time_zone(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if time_zone(raw.strip()) is None:
        raise FieldError(
            "time_zone", "invalid_time_zone", "not an IANA time zone (e.g. Asia/Jakarta)", raw
        )
    return raw.strip()


def clean_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip()
    if len(name) > 200:
        raise FieldError("name", "invalid_name", "name is at most 200 characters", raw)
    return name or None


def clean_contact(
    region: str,
    phone: str,
    name: str | None = None,
    email: str | None = None,
    attributes: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> ContactFields:
    return ContactFields(
        phone=clean_phone(phone, region),
        name=clean_name(name),
        email=clean_email(email),
        attributes=clean_attributes(attributes or {}),
        tags=clean_tags(tags or []),
    )
