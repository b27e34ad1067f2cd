"""Base of every request body: text may not carry NUL characters (PostgreSQL refuses them,
and no name, phone or message legitimately holds one)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from runtime.domain.field_messages import FieldRule

NUL = "\x00"


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(v) for v in value)
    return False


class Body(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        if contains_nul(data):
            raise FieldRule("nul_character", "text must not contain NUL (\\u0000) characters")
        return data
