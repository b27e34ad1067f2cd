"""Media of messages: an agent sends a file; agents who may read a conversation get its
files (never run by the browser: no HTML or SVG inline, ``nosniff``, a sandboxing CSP)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import Response
from sqlalchemy import select

from runtime import outbound as send_queue
from runtime.api.deps import (
    ClockDep,
    OutboundDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    perm,
)
from runtime.api.routers.conversations import READ
from runtime.api.schemas.inbox import MessageOut
from runtime.api.schemas.media import MediaOut
from runtime.clock import utc_now
from runtime.db.session import release
from runtime.domain import inbox, media, outbound
from runtime.domain.errors import Conflict, NotFound
from runtime.domain.lookup import visible_conversation
from runtime.domain.visibility import conversations_visible
from runtime.media.store import MediaMissing, MediaStore
from runtime.models import Conversation, MediaFile, Message, Sender

router = APIRouter(tags=["media"])


def _store(request: Request) -> MediaStore:
    store: MediaStore = request.app.state.media_store
    return store


@router.post(
    "/api/conversations/{conversation_id}/media",
    response_model=MessageOut,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[perm("inbox:send")],
)
async def send_media(
    conversation_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The image, document, audio or video")],
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    sending: OutboundDep,
    request: Request,
    caption: Annotated[str | None, Form(max_length=1024)] = None,
    kind: Annotated[Literal["image", "document", "audio", "video"] | None, Form()] = None,
) -> MessageOut:
    """Send a file (multipart ``file``, optional ``caption``; ``kind`` defaults from its
    type) inside the open 24-hour window. Meta's types and sizes are enforced here: 422
    ``unsupported_media_type``, 413 ``media_too_large``, 422 ``caption_too_long`` /
    ``caption_not_allowed`` (audio); 409 ``template_required`` when the window is closed.
    Answers 202 with the message ``queued``; the worker uploads the file to Meta and sends it."""
    conversation, contact = await visible_conversation(session, principal, conversation_id)
    sender = await session.get(Sender, conversation.sender_id)
    assert sender is not None
    now = utc_now(clock)
    outbound.require_window(conversation, now)  # before keeping any bytes
    await release(session)  # no connection held while the file is read and kept
    data = await file.read()
    outgoing = await media.accept_upload(
        _store(request),
        principal.tenant_id,
        data,
        file.content_type or "",
        file.filename,
        caption,
        kind,
    )
    message, queued = await send_queue.submit(
        session, settings, conversation, contact, sender, principal.agent_id, outgoing, now
    )
    await session.commit()
    sending.wake()
    file_row = await session.scalar(select(MediaFile).where(MediaFile.message_id == message.id))
    return MessageOut.model_validate(inbox.message_json(message, queued, file=file_row))


async def _visible_file(
    session: SessionDep, principal: PrincipalDep, media_id: uuid.UUID
) -> MediaFile:
    """The file if its conversation is one the principal may read (404 otherwise: another
    tenant's or a colleague's file does not exist for them)."""
    file = await session.scalar(
        select(MediaFile)
        .join(Message, Message.id == MediaFile.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            MediaFile.id == media_id,
            MediaFile.tenant_id == principal.tenant_id,
            conversations_visible(principal),
        )
    )
    if file is None:
        raise NotFound("Media")
    return file


@router.get(
    "/api/media/{media_id}",
    dependencies=[READ],
    response_class=Response,
    responses={200: {"description": "The file's bytes"}, 409: {"description": "Not kept yet"}},
)
async def get_media(
    media_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, request: Request
) -> Response:
    """The bytes of a message's file with its type; images, stickers, audio and video are
    shown inline, everything else only downloads (``Content-Disposition: attachment``).
    409 ``media_not_ready`` while it is being fetched from Meta or after that failed."""
    file = await _visible_file(session, principal, media_id)
    if file.status != "stored" or file.storage_key is None:
        raise Conflict(
            "media_not_ready",
            f"This file is {file.status}: it is not kept here (yet).",
            {"status": file.status, "error": file.last_error},
        )
    await release(session)
    try:
        data = await _store(request).get(file.storage_key)
    except MediaMissing as exc:
        raise NotFound("Media") from exc
    return Response(data, headers=media.serving_headers(file))


@router.post("/api/media/{media_id}/retry", response_model=MediaOut, dependencies=[READ])
async def retry_fetch(
    media_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
    request: Request,
) -> MediaOut:
    """Fetch a customer's file again after the fetch failed (409 ``media_not_failed``
    otherwise); Meta keeps media ids for 30 days."""
    file = await _visible_file(session, principal, media_id)
    media.retry_fetch(file, utc_now(clock))
    await session.commit()
    request.app.state.media_fetcher.wake()
    return MediaOut.model_validate(media.media_json(file))
