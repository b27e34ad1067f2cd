"""Async client for the WhatsApp Cloud API (Graph API) with typed errors and retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from itertools import count
from types import TracebackType
from typing import Any, Literal

import httpx

from runtime.whatsapp.errors import WhatsAppError, error_from_response
from runtime.whatsapp.models import MediaInfo, PhoneNumberInfo, SendResult, TemplateInfo
from runtime.whatsapp.pacing import Pacer
from runtime.whatsapp.retry import Backoff, parse_retry_after

MediaKind = Literal["image", "document", "audio", "video"]
Sleep = Callable[[float], Awaitable[None]]

PHONE_NUMBER_FIELDS = (
    "id,verified_name,display_phone_number,quality_rating,"
    "whatsapp_business_manager_messaging_limit,throughput,status,name_status"
)
TEMPLATE_FIELDS = "id,name,language,status,category,components"
# Where Meta serves media downloads (lookaside.fbsbx.com today): the sender's token goes
# only there over https, or back to the Graph API this client talks to (the simulator).
MEDIA_HOSTS = ("fbsbx.com", "facebook.com", "whatsapp.net")


class CloudAPIClient:
    """Graph API client; the access token is passed per call (one client serves all tenants).

    Failed calls raise a :class:`~runtime.whatsapp.errors.WhatsAppError` subclass. Retryable
    failures (5xx, 429, transient codes, connection errors) are retried up to ``max_retries``
    times with :class:`~runtime.whatsapp.retry.Backoff`; sends are paced by ``pacer`` if given.
    """

    def __init__(
        self,
        base_url: str = "https://graph.facebook.com",
        api_version: str = "v25.0",
        http: httpx.AsyncClient | None = None,
        *,
        max_retries: int = 3,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        pacer: Pacer | None = None,
    ) -> None:
        self._root = f"{base_url.rstrip('/')}/{api_version}"
        self._origin = httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=30.0)
        self._max_retries = max_retries
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._pacer = pacer

    async def aclose(self) -> None:
        """Close the HTTP client if this instance created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> CloudAPIClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def send_text(
        self,
        phone_number_id: str,
        token: str,
        to: str,
        body: str,
        preview_url: bool = False,
        reply_to: str | None = None,
        callback_data: str | None = None,
        once: bool = False,
    ) -> SendResult:
        """Send a free-form text message (only inside the customer-service window).
        ``once``: no pacing and no retry; the caller (the send queue) decides what a failure
        means, since repeating a send whose answer was lost could deliver it twice."""
        text = {"preview_url": preview_url, "body": body}
        return await self._send(
            phone_number_id, token, to, "text", text, reply_to, callback_data, once=once
        )

    async def send_template(
        self,
        phone_number_id: str,
        token: str,
        to: str,
        name: str,
        language: str,
        components: Sequence[dict[str, Any]] = (),
        callback_data: str | None = None,
        once: bool = False,
    ) -> SendResult:
        """Send an approved template; ``components`` carry the parameters (``once`` as for
        :meth:`send_text`)."""
        template: dict[str, Any] = {
            "name": name,
            "language": {"policy": "deterministic", "code": language},
        }
        if components:
            template["components"] = list(components)
        return await self._send(
            phone_number_id, token, to, "template", template, callback_data=callback_data, once=once
        )

    async def send_content(
        self,
        phone_number_id: str,
        token: str,
        to: str,
        kind: str,
        content: dict[str, Any],
        reply_to: str | None = None,
        callback_data: str | None = None,
        once: bool = False,
    ) -> SendResult:
        """Send a message of any other ``kind`` (``interactive``, ``reaction``, ``location``,
        ``contacts`` …) with Meta's ``content`` object as is (``once`` as for
        :meth:`send_text`)."""
        return await self._send(
            phone_number_id, token, to, kind, content, reply_to, callback_data, once=once
        )

    async def send_media(
        self,
        phone_number_id: str,
        token: str,
        to: str,
        kind: MediaKind,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        callback_data: str | None = None,
        once: bool = False,
    ) -> SendResult:
        """Send an image, document, audio or video by uploaded media id or by link
        (``once`` as for :meth:`send_text`)."""
        if (media_id is None) == (link is None):
            raise ValueError("pass exactly one of media_id or link")
        media = {
            key: value
            for key, value in (
                ("id", media_id),
                ("link", link),
                ("caption", caption),
                ("filename", filename),
            )
            if value is not None
        }
        return await self._send(
            phone_number_id, token, to, kind, media, callback_data=callback_data, once=once
        )

    async def upload_media(
        self, phone_number_id: str, token: str, data: bytes, mime_type: str, filename: str
    ) -> str:
        """``POST /{phone-number-id}/media`` (multipart); the media id to send it by. An
        upload repeated after a lost answer only leaves an unused copy at Meta."""
        files = {"file": (filename, data, mime_type)}
        form = {"messaging_product": "whatsapp", "type": mime_type}
        result = await self._request(
            "POST", f"{phone_number_id}/media", token, files=files, data=form
        )
        return str(result["id"])

    async def media_info(self, media_id: str, token: str) -> MediaInfo:
        """``GET /{media-id}``: a download URL (valid about 5 minutes), type, sha256, size."""
        return MediaInfo.from_json(await self._request("GET", media_id, token))

    async def download_media(self, url: str, token: str, max_bytes: int) -> bytes:
        """The bytes at a media URL (the bearer token is required); ``MediaTooLarge`` as soon
        as more than ``max_bytes`` arrive, whatever the headers claimed. The token is never
        sent to a host that is not Meta's (``UntrustedMediaURL``)."""
        if not self._trusted_media_url(httpx.URL(url)):
            raise UntrustedMediaURL(url)
        headers = {"Authorization": f"Bearer {token}"}
        async with self._http.stream("GET", url, headers=headers) as response:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response.status_code, _json_or_none(response))
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise MediaTooLarge(max_bytes)
                chunks.append(chunk)
            return b"".join(chunks)

    def _trusted_media_url(self, url: httpx.URL) -> bool:
        if (url.scheme, url.host, url.port) == (
            self._origin.scheme, self._origin.host, self._origin.port
        ):  # fmt: skip
            return True
        host = url.host.lower()
        return url.scheme == "https" and any(
            host == domain or host.endswith("." + domain) for domain in MEDIA_HOSTS
        )

    async def mark_read(self, phone_number_id: str, token: str, message_id: str) -> bool:
        """Mark an inbound message (and earlier ones) as read."""
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        data = await self._request("POST", f"{phone_number_id}/messages", token, json=body)
        return bool(data.get("success"))

    async def list_templates(
        self, waba_id: str, token: str, *, page_size: int = 100
    ) -> list[TemplateInfo]:
        """All templates of a WABA, following Graph paging."""
        params = {"fields": TEMPLATE_FIELDS, "limit": page_size}
        items = await self._all_pages(f"{waba_id}/message_templates", token, params)
        return [TemplateInfo.from_json(item) for item in items]

    async def waba_phone_number_ids(self, waba_id: str, token: str) -> list[str]:
        """The ids of a WABA's phone numbers (``GET /{waba-id}/phone_numbers``)."""
        items = await self._all_pages(f"{waba_id}/phone_numbers", token, {"fields": "id"})
        return [str(item["id"]) for item in items]

    async def _all_pages(
        self, path: str, token: str, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The ``data`` items of every page of a Graph list, following ``paging.next``."""
        url: str | None = path
        query: dict[str, Any] | None = params
        items: list[dict[str, Any]] = []
        while url is not None:
            page = await self._request("GET", url, token, params=query)
            items.extend(page.get("data", ()))
            url, query = page.get("paging", {}).get("next"), None
        return items

    async def phone_number_info(self, phone_number_id: str, token: str) -> PhoneNumberInfo:
        """Verified name, display number, quality rating, messaging limit, throughput, and
        Meta's number and name status."""
        data = await self._request(
            "GET", phone_number_id, token, params={"fields": PHONE_NUMBER_FIELDS}
        )
        return PhoneNumberInfo.from_json(data)

    async def _send(
        self,
        phone_number_id: str,
        token: str,
        to: str,
        kind: str,
        content: dict[str, Any],
        reply_to: str | None = None,
        callback_data: str | None = None,
        *,
        once: bool = False,
    ) -> SendResult:
        """POST one message; ``callback_data`` comes back in its status webhooks
        (``biz_opaque_callback_data``), which lets a status find a message sent a moment ago."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": kind,
            kind: content,
        }
        if reply_to is not None:
            body["context"] = {"message_id": reply_to}
        if callback_data is not None:
            body["biz_opaque_callback_data"] = callback_data
        if self._pacer is not None and not once:
            await self._pacer.acquire(phone_number_id, to)
        path = f"{phone_number_id}/messages"
        data = await self._request("POST", path, token, json=body, retries=0 if once else None)
        return SendResult.from_json(data)

    async def _request(
        self,
        method: str,
        path_or_url: str,
        token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        retries: int | None = None,
        files: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Graph call with retries (``retries``, default the client's ``max_retries``);
        ``path_or_url`` is relative to the version root."""
        url = path_or_url if "://" in path_or_url else f"{self._root}/{path_or_url}"
        max_retries = self._max_retries if retries is None else retries
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in count():
            error: WhatsAppError | None = None
            try:
                response = await self._http.request(
                    method, url, json=json, params=params, headers=headers, files=files, data=data
                )
            except (httpx.ConnectError, httpx.ConnectTimeout):
                # The request never reached Meta, so repeating it cannot duplicate a send.
                if attempt >= max_retries:
                    raise
            else:
                if response.is_success:
                    result: dict[str, Any] = response.json()
                    return result
                error = error_from_response(
                    response.status_code,
                    _json_or_none(response),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
                if not error.retryable or attempt >= max_retries:
                    raise error
            await self._sleep(self._backoff.delay(attempt, error))
        raise AssertionError("unreachable")


class UntrustedMediaURL(Exception):
    """Graph answered a media URL on a host the sender's token must not go to."""

    def __init__(self, url: str) -> None:
        host = httpx.URL(url).host or url[:80]
        super().__init__(f"The media URL's host {host!r} is not Meta's; not fetched.")


class MediaTooLarge(Exception):
    """A media download went past the size the caller allows."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The media file is larger than {max_bytes} bytes.")
        self.max_bytes = max_bytes


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
