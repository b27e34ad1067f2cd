"""The simulated Meta side: Graph API behaviour and the events the control API triggers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections import Counter, deque
from typing import Any, Literal, get_args

import httpx

from runtime.whatsapp import webhooks
from runtime.whatsapp.errors import webhook_error
from runtime.whatsapp.media import MEDIA_KINDS
from runtime.whatsapp.pacing import TokenBucket
from runtime.whatsapp.simulator.config import SimulatorConfig
from runtime.whatsapp.simulator.faults import (
    Fault,
    GraphFault,
    SlowAnswer,
    missing_parameter,
    unknown_object,
)
from runtime.whatsapp.simulator.media import MediaLibrary, tiny_png
from runtime.whatsapp.simulator.outbox import Delivery, WebhookOutbox
from runtime.whatsapp.simulator.state import (
    InboundMessage,
    PhoneNumber,
    SentMessage,
    SimState,
    StatusEvent,
    Template,
)
from runtime.whatsapp.simulator.validation import (
    SendRequest,
    check_template_params,
    check_template_usable,
    check_typing_indicator,
    parse_send,
    require_whatsapp,
)

Tier = Literal[
    "TIER_NOT_SET", "TIER_50", "TIER_250", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"
]
TIERS: tuple[str, ...] = get_args(Tier)
NumberStatus = Literal["CONNECTED", "FLAGGED", "RESTRICTED", "BANNED"]
_BAD_TOKEN = "Invalid OAuth access token - Cannot parse access token"


def new_wamid() -> str:
    return "wamid." + base64.urlsafe_b64encode(os.urandom(30)).decode()


class Simulator:
    """State plus behaviour; one instance per simulator app."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = SimState()
        self.media = MediaLibrary(self.state.clock)
        self._http = httpx.AsyncClient(
            transport=config.webhook_transport, timeout=config.webhook_timeout
        )
        self.outbox = WebhookOutbox(
            url=config.webhook_url,
            app_secret=config.app_secret,
            retry_delays=config.webhook_retry_delays,
            http=self._http,
        )
        self._senders: dict[str, TokenBucket] = {}
        self._pairs: dict[tuple[str, str], TokenBucket] = {}
        self._faults: deque[tuple[Fault, str | None]] = deque()  # (fault, object id or None)
        self.refusals: Counter[int] = Counter()  # rate-limit refusals (130429, 131056) so far
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_template_id = 1_000_000_000_000_000

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.aclose()
        await self._http.aclose()

    # Graph API -------------------------------------------------------------------------

    def inject_fault(self, fault: Fault, times: int, object_id: str | None = None) -> int:
        """Make the next ``times`` Graph calls fail with ``fault``, or only the next calls on
        ``object_id`` (a phone-number, WABA or media id in the call's path); returns the
        queue length."""
        self._faults.extend([(fault, object_id)] * times)
        return len(self._faults)

    def check_fault(self, path: str) -> float:
        """Raise the first injected error meant for a call on ``path``, if any; or return
        how long that call must hold its answer back (a :class:`SlowAnswer`: done, answered
        late). A fault for another object stays queued."""
        segments = path.split("/")
        index = next(
            (i for i, (_, on) in enumerate(self._faults) if on is None or on in segments), None
        )
        if index is None:
            return 0.0
        fault, _ = self._faults[index]
        del self._faults[index]
        if isinstance(fault, SlowAnswer):
            return fault.delay
        raise fault

    def authorize(self, token: str | None) -> list[PhoneNumber]:
        """Numbers the token may use; 190 (HTTP 401) when it is missing or unknown."""
        numbers = self.state.numbers_for_token(token) if token else []
        if not numbers:
            raise GraphFault(190, message=_BAD_TOKEN, details="")
        return numbers

    def phone_number(self, object_id: str, token: str | None, method: str) -> PhoneNumber:
        number = next((n for n in self.authorize(token) if n.id == object_id), None)
        if number is None:
            raise unknown_object(object_id, method)
        return number

    def authorize_waba(self, waba_id: str, token: str | None) -> None:
        """A token is bound to the WABAs of its numbers; any other WABA is code 100."""
        if all(n.waba_id != waba_id for n in self.authorize(token)):
            raise unknown_object(waba_id, "get")

    def waba_templates(self, waba_id: str, token: str | None) -> list[Template]:
        self.authorize_waba(waba_id, token)
        return [t for t in self.state.templates.values() if t.waba_id == waba_id]

    def waba_phone_numbers(self, waba_id: str, token: str | None) -> list[PhoneNumber]:
        """``GET /{waba-id}/phone_numbers``: every number of a WABA the token is bound to."""
        self.authorize_waba(waba_id, token)
        return [n for n in self.state.phone_numbers.values() if n.waba_id == waba_id]

    def post_messages(self, number: PhoneNumber, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /{phone-number-id}/messages``: a send or a mark-as-read."""
        if "status" in body:
            return self._mark_read(number, body)
        request = parse_send(body)
        self.media.check_sendable(number, request.type, request.content)
        template = self._template_for(number, request)
        in_window = self.state.window_open(number.id, request.wa_id)
        if template is None and not in_window and self.config.window_violation == "sync":
            raise GraphFault(131047)
        self._enforce_rate_limits(number, request.wa_id)
        category, pricing_type = _pricing(template, in_window)
        message = SentMessage(
            new_wamid(),
            number.id,
            request.wa_id,
            request.type,
            body,
            category,
            pricing_type,
            received_at=self.state.clock.now(),
        )
        self.state.sent[message.id] = message
        if (failure := self._undeliverable(number, request, template, in_window)) is not None:
            self.emit_status(message, "failed", error_code=failure)
        else:
            self.emit_status(message, "sent")
            if request.type != "reaction":  # Meta reports only "sent" for a reaction
                self._spawn(self._progress(message))
        result: dict[str, Any] = {"id": message.id}
        if template is not None:
            result["message_status"] = "accepted"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": request.to, "wa_id": request.wa_id}],
            "messages": [result],
        }

    def _undeliverable(
        self, number: PhoneNumber, request: SendRequest, template: Template | None, in_window: bool
    ) -> int | None:
        """Why Meta accepts a send but reports it ``failed``: free-form outside the window
        (131047); a reaction to a message not in this chat (131009)."""
        if template is None and not in_window:
            return 131047
        if request.type == "reaction" and not self._in_chat(
            number, request.wa_id, request.content["message_id"]
        ):
            return 131009
        return None

    def _in_chat(self, number: PhoneNumber, wa_id: str, wamid: str) -> bool:
        """Whether ``wamid`` is a message between ``number`` and ``wa_id`` (either way)."""
        found = self.state.inbound.get(wamid) or self.state.sent.get(wamid)
        return found is not None and (found.phone_number_id, found.wa_id) == (number.id, wa_id)

    def _mark_read(self, number: PhoneNumber, body: dict[str, Any]) -> dict[str, Any]:
        """A mark-as-read, optionally with ``typing_indicator: {type: text}`` (the only
        type Meta has)."""
        require_whatsapp(body)
        message_id = body.get("message_id")
        if body.get("status") != "read" or not message_id:
            raise missing_parameter("message_id")
        typing = check_typing_indicator(body)
        inbound = self.state.inbound.get(message_id)
        if inbound is None or inbound.phone_number_id != number.id:
            raise GraphFault(131009, details="Invalid message_id.")
        if typing:
            inbound.typing_shown_at = self.state.clock.now()
        for earlier in self.state.inbound.values():
            if (earlier.phone_number_id, earlier.wa_id) == (number.id, inbound.wa_id):
                earlier.read = True
            if earlier is inbound:
                break
        return {"success": True}

    def _template_for(self, number: PhoneNumber, request: SendRequest) -> Template | None:
        if request.type != "template":
            return None
        name, language = request.content["name"], request.content["language"]["code"]
        found = self.state.find_template(number.waba_id, name, language)
        template = check_template_usable(found, name, language)
        check_template_params(template, request.content)
        return template

    def _enforce_rate_limits(self, number: PhoneNumber, wa_id: str) -> None:
        if not self.config.enforce_rate_limits:
            return
        now = self.state.clock.now()
        sender = self._senders.setdefault(
            number.id, TokenBucket(number.throughput, number.throughput)
        )
        pair = self._pairs.setdefault(
            (number.id, wa_id),
            TokenBucket(1.0 / self.config.pair_interval, self.config.pair_burst),
        )
        if not sender.try_take(now):
            self.refusals[130429] += 1
            raise GraphFault(130429)
        if not pair.try_take(now):
            self.refusals[131056] += 1
            raise GraphFault(131056)

    # Statuses --------------------------------------------------------------------------

    def emit_status(
        self, message: SentMessage, status: webhooks.StatusName, *, error_code: int = 131026
    ) -> Delivery:
        """Record ``status`` and send its webhook (``failed`` carries ``error_code``)."""
        timestamp = self.state.clock.timestamp()
        message.statuses.append(StatusEvent(status, timestamp))
        priced = status in ("sent", "delivered")
        payload = webhooks.status_update(
            self.state.phone_numbers[message.phone_number_id].business_number,
            message_id=message.id,
            recipient_id=message.wa_id,
            status=status,
            timestamp=timestamp,
            pricing=(
                webhooks.pricing(
                    message.pricing_category,
                    message.pricing_type,
                    billable=message.pricing_type == "regular",
                )
                if priced
                else None
            ),
            errors=[webhook_error(error_code)] if status == "failed" else None,
            biz_opaque_callback_data=message.body.get("biz_opaque_callback_data"),
        )
        return self.outbox.enqueue(payload)

    async def _progress(self, message: SentMessage) -> None:
        for status in self.config.auto_statuses:
            await asyncio.sleep(self.config.status_interval)
            self.emit_status(message, status)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Control-API events ----------------------------------------------------------------

    def add_template(self, **fields: Any) -> Template:
        self._next_template_id += 1
        template = Template(id=self._next_template_id, **fields)
        self.state.templates[template.id] = template
        return template

    def customer_message(
        self,
        number: PhoneNumber,
        wa_id: str,
        *,
        kind: str,
        name: str | None = None,
        text: str | None = None,
        caption: str | None = None,
        reply_to: str | None = None,
        content: Any = None,
        referral: dict[str, Any] | None = None,
        media: tuple[bytes, str, str | None] | None = None,
    ) -> tuple[str, Delivery]:
        """A customer writes to ``number``: opens the 24 h window and sends the webhook.
        A rich ``kind`` (interactive, reaction, location, …) carries Meta's ``content``;
        ``media``: (bytes, type, file name) of an image, audio, video, document or sticker
        message (an image without it is a small generated PNG)."""
        state = self.state
        state.customers[wa_id] = name or state.customers.get(wa_id) or f"Customer {wa_id}"
        state.last_inbound[(number.id, wa_id)] = state.clock.now()
        message_id = new_wamid()
        state.inbound[message_id] = InboundMessage(message_id, number.id, wa_id)
        common: dict[str, Any] = {
            "message_id": message_id,
            "timestamp": state.clock.timestamp(),
        }
        customer = webhooks.Customer(wa_id, state.customers[wa_id])
        if kind == "text":
            payload = webhooks.inbound_text(
                number.business_number,
                customer,
                body=text or "",
                context_message_id=reply_to,
                **common,
            )
        elif kind in MEDIA_KINDS:
            data, mime_type, filename = media or (tiny_png(), "image/png", None)
            stored = self.media.add(number.waba_id, data, mime_type, filename)
            payload = webhooks.inbound_media(
                number.business_number,
                customer,
                kind=kind,
                media_id=stored.id,
                sha256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                mime_type=mime_type,
                caption=caption if kind != "audio" else None,
                filename=filename if kind == "document" else None,
                **common,
            )
        elif kind == "unsupported":
            payload = webhooks.inbound_unsupported(number.business_number, customer, **common)
        else:
            payload = webhooks.inbound_message(
                number.business_number,
                customer,
                type=kind,
                content={kind: content},
                context_message_id=reply_to,
                **common,
            )
        if referral is not None:  # the customer came from a Click-to-WhatsApp ad
            payload["entry"][0]["changes"][0]["value"]["messages"][0]["referral"] = referral
        return message_id, self.outbox.enqueue(payload)

    def set_quality(
        self,
        number: PhoneNumber,
        *,
        quality_rating: str | None,
        messaging_limit_tier: str | None,
        event: str | None,
    ) -> Delivery:
        """Change quality and/or limit; emits ``phone_number_quality_update``."""
        old_tier, old_quality = number.messaging_limit_tier, number.quality_rating
        number.quality_rating = quality_rating or old_quality
        number.messaging_limit_tier = messaging_limit_tier or old_tier
        tier_changed = number.messaging_limit_tier != old_tier
        if event is None:
            event = _quality_event(old_tier, number.messaging_limit_tier, number.quality_rating)
        payload = webhooks.phone_number_quality_update(
            number.waba_id,
            display_phone_number=number.display_phone_number,
            event=event,
            current_limit=number.messaging_limit_tier,
            old_limit=old_tier if tier_changed else None,
            time=self.state.clock.timestamp(),
        )
        return self.outbox.enqueue(payload)

    def set_status(self, number: PhoneNumber, status: str) -> Delivery:
        """Change the number's ``status`` and emit Meta's matching webhook: FLAGGED (quality
        RED) and CONNECTED (quality GREEN) as ``phone_number_quality_update`` FLAGGED /
        UNFLAGGED; RESTRICTED and BANNED as the WABA's ``account_update``."""
        number.status = status
        now = self.state.clock.timestamp()
        if status in ("FLAGGED", "CONNECTED"):
            number.quality_rating = "RED" if status == "FLAGGED" else "GREEN"
            event = "FLAGGED" if status == "FLAGGED" else "UNFLAGGED"
            return self.set_quality(
                number, quality_rating=None, messaging_limit_tier=None, event=event
            )
        if status == "RESTRICTED":
            restriction = {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING"}
            payload = webhooks.account_update(
                number.waba_id,
                event="ACCOUNT_RESTRICTION",
                time=now,
                restriction_info=[{**restriction, "expiration": now + 7 * 24 * 3600}],
            )
        else:
            payload = webhooks.account_update(
                number.waba_id,
                event="DISABLED_UPDATE",
                time=now,
                ban_info={"waba_ban_state": "DISABLE", "waba_ban_date": str(now)},
            )
        return self.outbox.enqueue(payload)

    def set_template_status(self, template: Template, status: str, reason: str | None) -> Delivery:
        """Change a template's status; emits ``message_template_status_update``."""
        template.status = status
        payload = webhooks.message_template_status_update(
            template.waba_id,
            template_id=template.id,
            name=template.name,
            language=template.language,
            event=status,
            category=template.category,
            reason=reason,
            time=self.state.clock.timestamp(),
        )
        return self.outbox.enqueue(payload)

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Send the same notification again, as Meta's duplicate deliveries do."""
        return self.outbox.enqueue(delivery.payload, duplicate_of=delivery.id)


def _pricing(template: Template | None, in_window: bool) -> tuple[str, webhooks.PricingType]:
    """(category, type) of a send under per-message pricing."""
    if template is None:
        return "service", "free_customer_service"
    category = template.category.lower()
    free = in_window and category == "utility"
    return category, "free_customer_service" if free else "regular"


def _quality_event(old_tier: str, new_tier: str, quality: str) -> str:
    if new_tier != old_tier:
        return "UPGRADE" if TIERS.index(new_tier) > TIERS.index(old_tier) else "DOWNGRADE"
    return "FLAGGED" if quality == "RED" else "UNFLAGGED"
