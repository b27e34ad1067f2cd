"""The background fetch of inbound media: Meta keeps a customer's file behind a URL that
expires in about 5 minutes, so it is fetched soon after the message is stored.

A round claims due ``pending`` files (``FOR UPDATE SKIP LOCKED``; each claim counts an
attempt and pushes ``next_attempt_at`` past the fetch's timeout, so a dead worker's claim
comes due again by itself), then per file, outside any transaction: ``GET /{media-id}`` with
the sender's token (a fresh URL each attempt), the type and size checked against Meta's
limits before and while downloading, the sha256 verified, the bytes kept in the media store.
The outcome is recorded with a ``message.media`` event. A failure is retried with
exponential backoff; a refusal that cannot change (a type or size Meta does not allow, an
id Meta does not know) and the last attempt turn the file ``failed``, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.clock import Clock, utc_now
from runtime.domain import inbox
from runtime.domain import media as media_rules
from runtime.domain.errors import DomainError
from runtime.domain.sender_tokens import resolve_token
from runtime.media.store import MediaStore
from runtime.models import Conversation, MediaFile, Message, Sender
from runtime.settings import Settings
from runtime.waiting import wait_set
from runtime.whatsapp.client import CloudAPIClient, MediaTooLarge, UntrustedMediaURL
from runtime.whatsapp.errors import WhatsAppError
from runtime.whatsapp.media import base_mime, max_bytes, sha256_matches

log = logging.getLogger(__name__)

BATCH = 16  # files fetched at once by one process
BACKOFF_CAP = 300.0


class Rejected(Exception):
    """A refusal another attempt cannot change."""


@dataclass(frozen=True)
class _Claim:
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    meta_media_id: str
    declared_sha256: str | None
    token: str | None  # None: the sender's token cannot be read (fails like a fetch)
    attempts: int


@dataclass(frozen=True)
class _Fetched:
    mime_type: str
    size: int
    storage_key: str


class MediaFetcher:
    """Fetches inbound media in one process (idle when ``settings.media_fetch_work`` is
    false); safe to run in every replica."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        client: CloudAPIClient,
        store: MediaStore,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._client = client
        self._store = store
        self._settings = settings
        self._clock = clock
        self._woken = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Inbound media may be waiting: look now (starts the loop if it is not running)."""
        if self._stopping or not self._settings.media_fetch_work:
            return
        self._woken.set()
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._run(), name="media-fetcher")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: fetch from the start (files left by others or a crash)."""
        self.wake()
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        self._stopping = True
        self._woken.set()
        if self._loop is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop

    async def _run(self) -> None:
        while not self._stopping:
            self._woken.clear()
            try:
                fetched = await self.fetch_round()
            except Exception:
                log.exception("media fetcher: round failed; retrying")
                fetched = 0
            if fetched >= BATCH or self._stopping:
                continue
            await wait_set(self._woken, self._settings.media_fetch_poll_seconds)

    async def fetch_round(self) -> int:
        """Claim the due files, fetch them at once, record each outcome; how many."""
        claims = await self._claim()
        await asyncio.gather(*(self._fetch_and_record(claim) for claim in claims))
        return len(claims)

    async def _claim(self) -> list[_Claim]:
        now = utc_now(self._clock)
        lease = timedelta(seconds=self._settings.media_fetch_timeout_seconds + 30)
        async with self._sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(MediaFile, Sender)
                    .join(Sender, Sender.id == MediaFile.sender_id)
                    .where(MediaFile.status == "pending", MediaFile.next_attempt_at <= now)
                    .order_by(MediaFile.next_attempt_at)
                    .limit(BATCH)
                    .with_for_update(of=MediaFile, skip_locked=True)
                )
            ).all()
            claims = []
            for file, sender in rows:
                file.attempts += 1
                file.next_attempt_at = now + lease
                claims.append(
                    _Claim(
                        file.id,
                        file.tenant_id,
                        file.kind,
                        file.meta_media_id or "",
                        file.sha256,
                        self._token(sender),
                        file.attempts,
                    )
                )
        return claims

    def _token(self, sender: Sender) -> str | None:
        try:
            return resolve_token(sender, self._settings)
        except DomainError:
            return None

    async def _fetch_and_record(self, claim: _Claim) -> None:
        outcome: _Fetched | Exception
        try:
            async with asyncio.timeout(self._settings.media_fetch_timeout_seconds):
                outcome = await self._fetch(claim)
        except Exception as exc:
            outcome = exc
        try:
            await self._record(claim, outcome)
        except Exception:
            log.exception("media fetcher: recording file %s failed", claim.id)

    async def _fetch(self, claim: _Claim) -> _Fetched:
        if claim.token is None:
            raise RuntimeError("The sender's access token cannot be read.")
        try:
            info = await self._client.media_info(claim.meta_media_id, claim.token)
            media_rules.check(claim.kind, info.mime_type, info.file_size, inbound=True)
            data = await self._client.download_media(info.url, claim.token, max_bytes(claim.kind))
        except WhatsAppError as exc:
            if 400 <= exc.http_status < 500 and not exc.retryable:
                raise Rejected(f"Meta refused the media id: {exc.message}") from exc
            raise
        except (DomainError, MediaTooLarge, UntrustedMediaURL) as exc:
            raise Rejected(str(exc)) from exc
        media_rules.check(claim.kind, info.mime_type, len(data), inbound=True)
        for expected in filter(None, (info.sha256, claim.declared_sha256)):
            if not sha256_matches(data, expected):
                raise ValueError("The file's sha256 does not match what Meta announced.")
        key = f"{claim.tenant_id}/{claim.id}"
        await self._store.put(key, data, base_mime(info.mime_type))
        return _Fetched(base_mime(info.mime_type), len(data), key)

    async def _record(self, claim: _Claim, outcome: _Fetched | Exception) -> None:
        now = utc_now(self._clock)
        async with self._sessionmaker() as session, session.begin():
            file = await session.get(MediaFile, claim.id)
            if file is None or file.status != "pending":
                return
            if isinstance(outcome, _Fetched):
                file.status, file.stored_at, file.last_error = "stored", now, None
                file.mime_type, file.size_bytes = outcome.mime_type, outcome.size
                file.storage_key, file.next_attempt_at = outcome.storage_key, None
            else:
                self._failed_attempt(file, outcome, now)
            await self._emit(session, file)

    def _failed_attempt(self, file: MediaFile, error: Exception, now: datetime) -> None:
        text = _describe(error)
        log.warning("media fetch %s attempt %d failed: %s", file.id, file.attempts, text)
        file.last_error = text[:500]
        final = isinstance(error, Rejected)
        if final or file.attempts >= self._settings.media_fetch_max_attempts:
            file.status, file.next_attempt_at = "failed", None
        else:
            delay = min(BACKOFF_CAP, 2.0**file.attempts)
            file.next_attempt_at = now + timedelta(seconds=delay)

    @staticmethod
    async def _emit(session: AsyncSession, file: MediaFile) -> None:
        row = (
            await session.execute(
                select(Message, Conversation)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id == file.message_id)
            )
        ).one()
        await inbox.emit_message(session, row[1], row[0], "message.media", file)

    async def settled(self, within: float = 10.0) -> None:
        """Wait until no file is due (tests, orderly shutdowns); TimeoutError after
        ``within`` seconds."""
        async with asyncio.timeout(within):
            while True:
                if not (await self.fetch_round() or await self._due()):
                    return
                await asyncio.sleep(0.01)

    async def _due(self) -> int:
        now = utc_now(self._clock)
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(MediaFile.id).where(
                    MediaFile.status == "pending", MediaFile.next_attempt_at <= now
                )
            )
            return len(rows.all())


def _describe(error: Exception) -> str:
    if isinstance(error, Rejected | ValueError | RuntimeError):
        return str(error)
    if isinstance(error, TimeoutError):
        return "Fetching the file from Meta took too long."
    if isinstance(error, WhatsAppError):
        return f"Meta answered {error.http_status}: {error.message}"
    if isinstance(error, httpx.HTTPError):
        return f"Meta could not be reached ({type(error).__name__})."
    return f"{type(error).__name__}: {error}"
