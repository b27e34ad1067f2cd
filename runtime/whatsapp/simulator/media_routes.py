"""Graph routes of simulated media: upload, and download from a media URL (the lookup,
``GET /{media-id}``, shares its path with the phone-number node in graph.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from runtime.whatsapp.media import base_mime
from runtime.whatsapp.simulator.faults import invalid_parameter, missing_parameter
from runtime.whatsapp.simulator.graph import bearer_token, simulator
from runtime.whatsapp.simulator.media import DOWNLOAD_PATH, check_upload

router = APIRouter()


@router.get(DOWNLOAD_PATH)
async def download(request: Request, mid: str = "", ext: str = "", hash: str = "") -> Response:
    """The bytes behind a media URL: the bearer token of the media's WABA is required."""
    sim = simulator(request)
    numbers = sim.authorize(bearer_token(request))
    media = sim.media.download(mid, ext, hash)
    if media is None or all(n.waba_id != media.waba_id for n in numbers):
        return Response(status_code=404)
    return Response(media.data, media_type=media.mime_type)


@router.post("/{version}/{phone_number_id}/media")
async def upload(version: str, phone_number_id: str, request: Request) -> dict[str, Any]:
    sim = simulator(request)
    number = sim.phone_number(phone_number_id, bearer_token(request), "post")
    form = await request.form()
    product = form.get("messaging_product")
    if product is None:
        raise missing_parameter("messaging_product")
    if product != "whatsapp":
        raise invalid_parameter(
            f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
        )
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise missing_parameter("file")
    mime_type = str(form.get("type") or file.content_type or "")
    data = await file.read()
    check_upload(mime_type, len(data))
    media = sim.media.add(number.waba_id, data, base_mime(mime_type), file.filename)
    return {"id": media.id}
