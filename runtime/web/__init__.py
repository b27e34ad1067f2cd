"""The web inbox and admin console: static ES modules and CSS, no build step.

``/`` serves the single page; its assets live under ``/ui/``. Routing inside the page uses
the URL fragment (``#/inbox/<id>``), so no server-side catch-all is needed and nothing
shadows ``/api``, ``/ws``, ``/webhooks``, ``/simulator`` or the docs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = (Path(__file__).parent / "static").resolve()
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# Everything the page loads comes from this origin; user text is only ever set as text.
# Message files are fetched with the bearer token and shown from blob: URLs (img, audio,
# video), never from another origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


def _file(path: Path, extra: dict[str, str] | None = None) -> FileResponse:
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        headers={**HEADERS, **(extra or {})},
    )


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    return _file(STATIC / "index.html", {"Content-Security-Policy": CSP})


@router.api_route("/ui/{path:path}", methods=["GET", "HEAD"])
def asset(path: str) -> FileResponse:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise HTTPException(404, "No such asset.")
    return _file(target)
