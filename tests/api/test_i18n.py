"""Catalogues stay complete: every UI key the web app uses exists in English and Indonesian,
and every API error code the runtime raises has its Indonesian message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.domain.error_messages import INDONESIAN, localized, preferred_locale
from runtime.domain.permissions import PERMISSIONS

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "runtime" / "web" / "static" / "js"
CATALOGUES = STATIC / "i18n"
KEY = re.compile(r"^\s*'([\w.:-]+)':", re.M)
USED = re.compile(r"\bt\(\s*'([\w.:-]+)'")
DYNAMIC = re.compile(r"\bt\(\s*`([\w.:-]+)\$\{")


def _catalogue(locale: str) -> dict[str, str]:
    """Keys of every catalogue file for ``locale`` → the file that holds them."""
    keys: dict[str, str] = {}
    for path in sorted(CATALOGUES.glob("*.js")):
        text = path.read_text()
        if "export default" not in text:
            continue
        en, _, id_ = text.partition("\n  id: {")
        for key in KEY.findall(en if locale == "en" else id_):
            assert key not in keys, f"{key} is defined twice ({keys[key]}, {path.name})"
            keys[key] = path.name
    return keys


COMMENT = re.compile(r"^\s*//[^\n]*|/\*.*?\*/", re.M | re.S)


def _sources() -> dict[Path, str]:
    """The web app's scripts (not the catalogues), without their comments."""
    return {
        p: COMMENT.sub("", p.read_text())
        for p in STATIC.rglob("*.js")
        if CATALOGUES not in p.parents
    }


def test_every_catalogue_is_registered() -> None:
    index = (CATALOGUES / "index.js").read_text()
    for path in CATALOGUES.glob("*.js"):
        if path.name != "index.js":
            assert f"from './{path.name}'" in index, f"{path.name} is not in i18n/index.js"


def test_english_and_indonesian_have_the_same_keys() -> None:
    en, id_ = _catalogue("en"), _catalogue("id")
    assert sorted(set(en) - set(id_)) == [], "keys without Indonesian text"
    assert sorted(set(id_) - set(en)) == [], "keys without English text"


def test_every_key_used_in_the_web_app_exists() -> None:
    known = _catalogue("en")
    # t('area.key') calls, and keys kept in tables (TICKS, SECTIONS…) for a later t(…).
    areas = "|".join(sorted({re.escape(k.split(".")[0]) for k in known}))
    kept = re.compile(rf"'((?:{areas})\.[\w.:-]*\w)'")
    missing = [
        f"{path.relative_to(STATIC)}: {key}"
        for path, text in _sources().items()
        for key in USED.findall(text) + kept.findall(text)
        if key not in known
    ]
    assert missing == []
    # Keys built at run time (`t(`inbox.status.${status}`)`): the family must exist.
    families = {prefix for text in _sources().values() for prefix in DYNAMIC.findall(text)}
    assert families, "the dynamic-key pattern found nothing: the test is broken"
    empty = sorted(p for p in families if not any(k.startswith(p) for k in known))
    assert empty == []


def test_every_permission_is_described_in_both_languages() -> None:
    for locale in ("en", "id"):
        described = {
            k.removeprefix("permission.") for k in _catalogue(locale) if k.startswith("permission.")
        }
        assert described == set(PERMISSIONS), locale


def _raised_codes() -> set[str]:
    """Codes of the DomainErrors the runtime raises (``Invalid("code", …)`` and kin)."""
    call = re.compile(
        r"\b(?:Invalid|Conflict|Forbidden|Unauthorized|TooManyRequests|PayloadTooLarge|"
        r"UpstreamUnavailable|ServiceUnavailable|DomainError|FatalImportError)\(\s*\"([a-z_]+)\"",
        re.S,
    )
    codes: set[str] = set()
    for path in (ROOT / "runtime").rglob("*.py"):
        if "simulator" not in path.parts and "migrations" not in path.parts:
            codes.update(call.findall(path.read_text()))
    return codes


def test_every_error_code_has_an_indonesian_message() -> None:
    codes = _raised_codes()
    assert {"shortcut_taken", "invalid_credentials"} <= codes  # the scan finds codes
    assert sorted(codes - set(INDONESIAN)) == []


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en"),
        ("", "en"),
        ("id", "id"),
        ("id-ID,id;q=0.9,en-US;q=0.8", "id"),
        ("en-US,en;q=0.9,id;q=0.8", "en"),
        ("fr-FR, id;q=0.5", "id"),
        ("fr", "en"),
        ("id;q=0", "en"),
        ("id;q=abc, en;q=0.1", "en"),
    ],
)
def test_accept_language_picks_a_supported_locale(header: str | None, locale: str) -> None:
    assert preferred_locale(header) == locale


def test_messages_fall_back_to_english() -> None:
    assert localized("no_such_code", "As given.", "id") == "As given."
    assert localized("not_found", "Label not found", "en", "Label") == "Label not found"
    assert localized("not_found", "Widget not found", "id", "Widget") == "Widget tidak ditemukan."
