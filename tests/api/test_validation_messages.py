"""Per-field validation messages (422 ``details``) follow ``Accept-Language``: Indonesian from
the catalogue keyed by pydantic's ``type`` (and our validators' codes), English unchanged, the
machine-readable shape the same in both."""

from __future__ import annotations

import re
import typing
import uuid
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from pydantic_core import PydanticKnownError
from pydantic_core.core_schema import ErrorType

from runtime.domain.contact_fields import FieldError, clean_time_zone
from runtime.domain.field_messages import BY_RULE, BY_TYPE, field_message, placeholders
from tests.api.harness import ApiHarness

ROOT = Path(__file__).resolve().parents[2]
INDONESIAN = {"Accept-Language": "id-ID,id;q=0.9"}


# ---- the catalogue -------------------------------------------------------------------------


def _english_template(kind: str, names: set[str]) -> str:
    """Pydantic's English message template for ``kind`` (its ctx names as placeholders)."""
    ctx: dict[str, Any] = {name: "x" for name in names}
    for _ in range(10):
        try:
            return PydanticKnownError(kind, ctx).message_template  # type: ignore[arg-type]
        except (KeyError, TypeError) as exc:
            needed = re.search(r"'(\w+)' (required in context|context value must be)", str(exc))
            assert needed, exc
            ctx[needed.group(1)] = "x" if needed.group(2).startswith("required") else 1
    raise AssertionError(kind)


def test_catalogue_types_are_pydantics_and_use_only_their_parameters() -> None:
    known = set(typing.get_args(ErrorType))
    assert sorted(set(BY_TYPE) - known) == []
    for kind, indonesian in BY_TYPE.items():
        english = _english_template(kind, placeholders(indonesian))
        if kind != "value_error":  # its {error} is our validator's text, replaced by BY_RULE
            assert placeholders(indonesian) <= placeholders(english), kind


class _Colour(Enum):
    RED = "red"
    BLUE = "blue"


class _Inner(BaseModel):
    n: int


class _Everything(BaseModel):
    """One field per common error type."""

    model_config = ConfigDict(extra="forbid")

    required: str
    short: str = Field(min_length=3)
    long: str = Field(max_length=2)
    pattern: str = Field(pattern=r"^\d+$")
    few: list[int] = Field(min_length=2)
    many: list[int] = Field(max_length=1)
    gt: int = Field(gt=0)
    ge: int = Field(ge=1)
    lt: int = Field(lt=0)
    le: int = Field(le=-1)
    integer: int
    integer_type: int
    fraction: int
    number: float
    number_type: float
    flag: bool
    flag_type: bool
    colour: _Colour
    kind: Literal["text", "image"]
    url: HttpUrl
    url_scheme: HttpUrl
    id: uuid.UUID
    when: datetime
    day: date
    clock: time
    mapping: dict[str, int]
    items: list[int]
    inner: _Inner
    text: str
    multiple: int = Field(multiple_of=5)


BAD = {
    "short": "ab",
    "long": "abc",
    "pattern": "x1",
    "few": [1],
    "many": [1, 2],
    "gt": 0,
    "ge": 0,
    "lt": 0,
    "le": 0,
    "integer": "ten",
    "integer_type": [1],
    "fraction": 1.5,
    "number": "many",
    "number_type": [1],
    "flag": "perhaps",
    "flag_type": [1],
    "colour": "green",
    "kind": "video",
    "url": "not a url",
    "url_scheme": "ftp://example.com/x",
    "id": "not-a-uuid",
    "when": "yesterday",
    "day": "the first",
    "clock": "noon",
    "mapping": [1],
    "items": {"a": 1},
    "inner": 3,
    "text": 5,
    "multiple": 7,
    "surprise": 1,
}


def test_every_common_error_type_reads_in_indonesian_and_english_stays() -> None:
    with pytest.raises(ValidationError) as caught:
        _Everything.model_validate(BAD)
    errors = caught.value.errors()
    seen = {e["type"] for e in errors}
    common = {
        "missing", "string_too_short", "string_too_long", "string_pattern_mismatch",
        "too_short", "too_long", "greater_than", "greater_than_equal", "less_than",
        "less_than_equal", "int_parsing", "int_type", "int_from_float", "float_parsing",
        "float_type", "bool_parsing", "bool_type", "enum", "literal_error", "url_parsing",
        "url_scheme", "uuid_parsing", "datetime_from_date_parsing", "date_from_datetime_parsing",
        "time_parsing", "dict_type", "list_type", "model_type", "string_type",
        "extra_forbidden", "multiple_of",
    }  # fmt: skip
    assert common <= seen, common - seen
    for error in errors:
        indonesian = field_message(error, "id")
        assert field_message(error, "en") == error["msg"]
        assert indonesian != error["msg"], error["type"]
        assert "{" not in indonesian and "}" not in indonesian, indonesian
    by_field = {e["loc"][0]: field_message(e, "id") for e in errors}
    assert by_field["required"] == "Wajib diisi."
    assert by_field["short"] == "Harus berisi paling sedikit 3 karakter."
    assert by_field["many"] == "Paling banyak 1 item, bukan 2."
    assert by_field["ge"] == "Harus lebih besar dari atau sama dengan 1."
    assert by_field["kind"] == "Harus salah satu dari 'text' atau 'image'."
    assert by_field["surprise"] == "Kolom ini tidak dikenal; hapus dari permintaan."


def test_every_rule_of_our_validators_has_its_indonesian_message() -> None:
    schemas = ROOT / "runtime" / "api" / "schemas"
    sources = {p.name: p.read_text() for p in schemas.glob("*.py")}
    # A plain ValueError would keep its English text: validators raise FieldRule.
    assert [name for name, text in sources.items() if "raise ValueError" in text] == []
    raised = {c for text in sources.values() for c in re.findall(r'FieldRule\(\s*"(\w+)"', text)}
    assert {"one_parameter_source", "nul_character"} <= raised  # the scan finds codes
    with pytest.raises(FieldError) as zone:
        clean_time_zone("Mars/Olympus")
    raised.add(zone.value.code)  # consent.py passes the domain's code on
    assert sorted(raised - set(BY_RULE)) == []


# ---- through the API -------------------------------------------------------------------------


def _details(response: Any) -> dict[str, dict[str, Any]]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return {d["field"]: d for d in error["details"]}


async def test_field_messages_follow_accept_language(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    bad_campaign = {
        "name": "",
        "audience_id": "not-a-uuid",
        "template": {"name": "promo", "language": "id"},
        "sender": {"mode": "named", "sender_ids": []},
        "rate_per_minute": 0,
    }
    english = _details(
        await api.client.post("/api/campaigns", headers=ctx.headers, json=bad_campaign)
    )
    indonesian = _details(
        await api.client.post(
            "/api/campaigns", headers={**ctx.headers, **INDONESIAN}, json=bad_campaign
        )
    )
    assert english.keys() == indonesian.keys()
    for name in english:  # the machine-readable shape does not change with the language
        assert {k: v for k, v in english[name].items() if k != "message"} == {
            k: v for k, v in indonesian[name].items() if k != "message"
        }
    assert english["name"]["message"] == "String should have at least 1 character"
    assert indonesian["name"]["message"] == "Harus berisi paling sedikit 1 karakter."
    assert indonesian["audience_id"]["message"] == "Bukan UUID yang valid."
    assert english["sender"]["message"] == "Value error, named mode needs at least one sender id"
    assert indonesian["sender"]["message"] == (
        "Mode named memerlukan paling sedikit satu id pengirim."
    )
    assert indonesian["rate_per_minute"]["message"] == (
        "Harus lebih besar dari atau sama dengan 1."
    )

    label = _details(
        await api.client.post("/api/labels", headers={**ctx.headers, **INDONESIAN}, json={})
    )
    assert label["name"]["message"] == "Wajib diisi."

    message = _details(
        await api.client.post(
            f"/api/conversations/{uuid.uuid4()}/messages",
            headers={**ctx.headers, **INDONESIAN},
            json={"type": "video"},
        )
    )
    assert message["type"]["message"] == (
        "Harus salah satu dari 'text', 'template', 'interactive' atau 'reaction'."
    )
    text_missing = _details(
        await api.client.post(
            f"/api/conversations/{uuid.uuid4()}/messages",
            headers={**ctx.headers, **INDONESIAN},
            json={"type": "text"},
        )
    )
    assert text_missing[""]["message"] == "Pesan text memerlukan 'text'."

    broken = _details(
        await api.client.post(
            "/api/labels",
            headers={**ctx.headers, **INDONESIAN, "Content-Type": "application/json"},
            content=b'{"name": ',
        )
    )
    assert [d["message"] for d in broken.values()] == ["Isi permintaan bukan JSON yang valid."]

    query = _details(
        await api.client.get(
            "/api/campaigns", headers={**ctx.headers, **INDONESIAN}, params={"limit": "many"}
        )
    )
    assert query["limit"]["message"] == "Harus berupa bilangan bulat."
    assert query["limit"]["location"] == "query"
