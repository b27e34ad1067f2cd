"""Meta's media rules and how files are served (unit tests: no database)."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from runtime.domain import media
from runtime.domain.errors import Invalid, PayloadTooLarge
from runtime.media.store import MediaMissing
from runtime.models import MediaFile
from runtime.outbound.media import upload_outcome
from runtime.outbound.outcomes import Refused, Retry
from runtime.whatsapp.errors import error_from_response
from runtime.whatsapp.media import MB, kind_of, sha256_matches


def test_sha256_in_hex_or_base64() -> None:
    data = b"voice note"
    digest = hashlib.sha256(data).digest()
    assert sha256_matches(data, digest.hex())
    assert sha256_matches(data, digest.hex().upper())
    assert sha256_matches(data, base64.b64encode(digest).decode())
    assert not sha256_matches(b"other", digest.hex())
    assert not sha256_matches(data, "not a digest")


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("image/png", "image"),
        ("image/webp", "sticker"),
        ("audio/ogg; codecs=opus", "audio"),
        ("video/3gpp", "video"),
        ("application/pdf", "document"),
        ("text/html", None),
        ("image/svg+xml", None),
    ],
)
def test_kind_of_a_type(mime: str, kind: str | None) -> None:
    assert kind_of(mime) == kind


def test_limits_per_kind() -> None:
    media.check("image", "image/jpeg", 5 * MB)
    with pytest.raises(PayloadTooLarge):
        media.check("image", "image/jpeg", 5 * MB + 1)
    with pytest.raises(PayloadTooLarge):
        media.check("document", "application/pdf", 100 * MB + 1)
    with pytest.raises(Invalid):
        media.check("document", "application/zip", 10)
    media.check("document", "application/zip", 10, inbound=True)  # a customer's archive
    with pytest.raises(Invalid):
        media.check("image", "image/gif", 10, inbound=True)


def _file(mime: str, kind: str, filename: str | None = None) -> MediaFile:
    return MediaFile(id=uuid.uuid4(), kind=kind, mime_type=mime, filename=filename)


def test_only_images_audio_video_are_inline_and_nothing_is_sniffed() -> None:
    image = media.serving_headers(_file("image/png", "image"))
    assert image["Content-Type"] == "image/png"
    assert image["Content-Disposition"].startswith("inline")
    text = media.serving_headers(_file("text/plain", "document", 'a"b.txt'))
    assert text["Content-Disposition"].startswith('attachment; filename="a_b.txt"')
    archive = media.serving_headers(_file("application/zip", "document", "x.zip"))
    assert archive["Content-Type"] == "application/octet-stream"
    for headers in (image, text, archive):
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in headers["Content-Security-Policy"]


def test_file_names_lose_paths_and_control_characters() -> None:
    assert media.safe_filename("C:\\Users\\x\\invoice.pdf") == "invoice.pdf"
    assert media.safe_filename("../../etc/passwd") == "passwd"
    assert media.safe_filename("a\x00b\nc.pdf") == "abc.pdf"
    assert media.safe_filename("") is None


def test_a_failed_upload_is_a_retry_or_a_refusal_never_unknown() -> None:
    gateway = error_from_response(502, None)
    assert isinstance(upload_outcome(gateway, 0), Retry)
    assert isinstance(upload_outcome(TimeoutError(), 0), Retry)
    refused = error_from_response(400, {"error": {"code": 131053, "message": "Media upload"}})
    assert isinstance(upload_outcome(refused, 0), Refused)
    assert isinstance(upload_outcome(MediaMissing("k"), 0), Refused)
