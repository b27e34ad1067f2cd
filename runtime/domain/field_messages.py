"""Per-field validation messages (422 ``details``) in Bahasa Indonesia.

Pydantic writes each field's message in English; the machine-readable ``type`` and its ``ctx``
parameters do not change with the language. An Indonesian message is picked by ``type`` and
filled from ``ctx``; our own validators raise :class:`FieldRule`, whose ``code`` picks its
message. Anything not catalogued keeps pydantic's English text (a test keeps the catalogue
complete for the types our bodies and queries produce).
"""

from __future__ import annotations

import string
from typing import Any


class FieldRule(ValueError):
    """A schema validator's refusal: ``code`` picks the translated message, ``params`` fill
    it; ``str()`` stays the English ``message`` (pydantic shows it as "Value error, …")."""

    def __init__(self, code: str, message: str, **params: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


# Keyed by pydantic's error ``type``; ``{name}`` is filled from the error's ``ctx``.
BY_TYPE: dict[str, str] = {
    "missing": "Wajib diisi.",
    "extra_forbidden": "Kolom ini tidak dikenal; hapus dari permintaan.",
    "string_type": "Harus berupa teks.",
    "string_too_short": "Harus berisi paling sedikit {min_length} karakter.",
    "string_too_long": "Paling banyak {max_length} karakter.",
    "string_pattern_mismatch": "Formatnya tidak sesuai pola {pattern}.",
    "too_short": "Harus berisi paling sedikit {min_length} item, bukan {actual_length}.",
    "too_long": "Paling banyak {max_length} item, bukan {actual_length}.",
    "greater_than": "Harus lebih besar dari {gt}.",
    "greater_than_equal": "Harus lebih besar dari atau sama dengan {ge}.",
    "less_than": "Harus lebih kecil dari {lt}.",
    "less_than_equal": "Harus lebih kecil dari atau sama dengan {le}.",
    "int_parsing": "Harus berupa bilangan bulat.",
    "int_type": "Harus berupa bilangan bulat.",
    "int_from_float": "Harus berupa bilangan bulat, tanpa pecahan.",
    "float_parsing": "Harus berupa angka.",
    "float_type": "Harus berupa angka.",
    "bool_parsing": "Harus berupa nilai boolean (true atau false).",
    "bool_type": "Harus berupa nilai boolean (true atau false).",
    "enum": "Harus salah satu dari {expected}.",
    "literal_error": "Harus salah satu dari {expected}.",
    "json_invalid": "Isi permintaan bukan JSON yang valid.",
    "json_type": "JSON harus berupa teks atau byte.",
    "url_parsing": "Bukan URL yang valid.",
    "url_scheme": "Skema URL harus {expected_schemes}.",
    "url_type": "URL harus berupa teks.",
    "uuid_parsing": "Bukan UUID yang valid.",
    "uuid_type": "Harus berupa UUID.",
    "datetime_parsing": "Bukan tanggal dan waktu yang valid (ISO 8601).",
    "datetime_from_date_parsing": "Bukan tanggal dan waktu yang valid (ISO 8601).",
    "datetime_type": "Harus berupa tanggal dan waktu.",
    "date_parsing": "Bukan tanggal yang valid (YYYY-MM-DD).",
    "date_from_datetime_parsing": "Bukan tanggal yang valid (YYYY-MM-DD).",
    "date_type": "Harus berupa tanggal.",
    "time_parsing": "Bukan waktu yang valid (HH:MM).",
    "dict_type": "Harus berupa objek.",
    "list_type": "Harus berupa daftar.",
    "model_type": "Harus berupa objek.",
    "model_attributes_type": "Harus berupa objek.",
    "union_tag_invalid": "Nilai {discriminator} tidak dikenal; harus salah satu dari "
    "{expected_tags}.",
    "union_tag_not_found": "Nilai {discriminator} wajib diisi.",
    "multiple_of": "Harus kelipatan {multiple_of}.",
    "decimal_parsing": "Harus berupa angka desimal.",
    "value_error": "Nilai tidak valid.",
}

# Keyed by ``FieldRule.code``.
BY_RULE: dict[str, str] = {
    "nul_character": "Teks tidak boleh berisi karakter NUL (\\u0000).",
    "token_source_required": "Berikan access_token atau access_token_secret_ref.",
    "one_token_source": "Berikan tepat satu dari access_token atau access_token_secret_ref.",
    "snooze_needs_time": "snoozed_until wajib diisi untuk menunda percakapan.",
    "content_missing": "Pesan {type} memerlukan '{type}'.",
    "reply_not_supported": "Hanya pesan teks atau interaktif yang dapat membalas sebuah pesan.",
    "assignee_required": "Berikan agent_id, team_id, atau keduanya.",
    "one_parameter_source": "Berikan tepat satu dari field atau text.",
    "named_needs_senders": "Mode named memerlukan paling sedikit satu id pengirim.",
    "allocated_takes_no_senders": "Mode allocated tidak menerima id pengirim.",
    "window_start_after_end": "Jam mulai harus sebelum jam selesai (jendela tidak melewati "
    "tengah malam).",
    "ids_or_all": "Berikan tepat satu dari ids atau all: true.",
    "quiet_hours_empty": "Jam mulai dan selesai harus berbeda.",
    "invalid_time_zone": "Bukan zona waktu IANA (mis. Asia/Jakarta).",
    "invalid_email": "Bukan alamat e-mail yang valid.",
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _indonesian_ctx(ctx: dict[str, Any]) -> dict[str, str]:
    """``ctx`` as text; pydantic's lists of choices ("'a', 'b' or 'c'") read "… atau …"."""
    return {key: str(value).replace(" or ", " atau ") for key, value in ctx.items()}


def _rule_message(ctx: dict[str, Any]) -> str | None:
    """The message of our own validator's refusal (a ``value_error``), if catalogued."""
    error = ctx.get("error")
    code = getattr(error, "code", None)
    if code is None and "reason" in ctx:  # pydantic's EmailStr says "value is not a valid email"
        code = "invalid_email"
    if code not in BY_RULE:
        return None
    return BY_RULE[code].format(**getattr(error, "params", {}))


def field_message(error: dict[str, Any], locale: str) -> str:
    """The message of one pydantic ``error`` in ``locale`` (its English ``msg`` unless the
    locale is ``id`` and the type — or our rule — is catalogued)."""
    english = str(error["msg"])
    if locale != "id":
        return english
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "value_error" and (rule := _rule_message(ctx)) is not None:
        return rule
    template = BY_TYPE.get(kind)
    values = _indonesian_ctx(ctx)
    if template is None or not placeholders(template) <= set(values):
        return english
    return template.format(**values)
