"""The sender-health monitor: polls each sender's Graph phone-number fields on a schedule
(and at once when a send was refused with a code about the number), and delivers alerts to
the tenants' signed webhooks. Runs beside the send worker in every process that works the
queue; a transaction lease makes one replica claim the polls at a time, ``SKIP LOCKED``
spreads the webhook deliveries. Meta and the webhooks are called with no transaction open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.clock import Clock, utc_now
from runtime.db.leases import SENDER_HEALTH_POLLING, take_transaction_lease
from runtime.domain import sender_health
from runtime.domain.errors import Conflict
from runtime.domain.security import decrypt_secret
from runtime.domain.sender_alerts import SIGNATURE_HEADER, alert_json, signature
from runtime.domain.sender_tokens import resolve_token
from runtime.models import AlertWebhook, Sender, SenderAlert
from runtime.outbound.outcomes import Refused
from runtime.settings import Settings
from runtime.waiting import wait_set
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import WhatsAppError
from runtime.whatsapp.models import PhoneNumberInfo

log = logging.getLogger(__name__)

POLLS_PER_ROUND = 50
DELIVERIES_PER_ROUND = 20
MAX_RETRY_DELAY = 3600.0


@dataclass(frozen=True)
class _Poll:
    sender_id: uuid.UUID
    phone_number_id: str
    token: str


@dataclass(frozen=True)
class _Delivery:
    alert_id: uuid.UUID
    url: str
    secret: str
    body: bytes


async def note_refusals(
    session: AsyncSession, refusals: list[tuple[uuid.UUID, Refused]], now: datetime
) -> bool:
    """The send worker's hook: refusals whose code concerns the number mark its sender
    (runtime/domain/sender_health.py) and ask for a poll. Whether any did."""
    marked = False
    for sender_id, refusal in refusals:
        if refusal.code not in sender_health.HEALTH_BY_CODE:
            continue
        sender = await session.get(Sender, sender_id)
        if sender is not None:
            marked |= await sender_health.after_refusal(
                session, sender, refusal.code, refusal.text, now
            )
    return marked


class HealthMonitor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        client: CloudAPIClient,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._client = client
        self._settings = settings
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=settings.alert_webhook_timeout_seconds)
        self._woken = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        self.completed_rounds = 0  # rounds run one after another: a claim seen is applied
        # once this has moved on

    def wake(self) -> None:
        """A poll was asked for (or an alert queued): look now, not at the next tick."""
        self._woken.set()
        if not self._stopping and (self._loop is None or self._loop.done()):
            self._loop = asyncio.create_task(self._run(), name="sender-health")

    async def close(self) -> None:
        """Stop after the round under way (never cancelled inside a transaction: that would
        strand its connection, and SQLite's write lock with it)."""
        self._stopping = True
        self._woken.set()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            self._woken.clear()
            try:
                await self.round()
            except Exception:
                log.exception("sender health: round failed; retrying")
            self.completed_rounds += 1
            await wait_set(self._woken, self._settings.sender_health_tick_seconds)

    async def round(self) -> tuple[int, int]:
        """Poll the senders that are due and deliver the alerts that are due; how many."""
        return await self.poll_due(), await self.deliver_due()

    # Polling ---------------------------------------------------------------------------

    async def poll_due(self) -> int:
        polls = await self._claim_polls()
        answers = await asyncio.gather(*(self._read(poll) for poll in polls))
        now = utc_now(self._clock)
        for poll, answer in zip(polls, answers, strict=True):
            # One transaction per sender: it holds one sender lock at a time (webhooks lock
            # senders too), and one failure does not lose the other answers.
            async with self._sessionmaker() as session, session.begin():
                await self._apply(session, poll, answer, now)
        return len(polls)

    async def _claim_polls(self) -> list[_Poll]:
        """Under the lease: active senders asked for, or not polled for the interval
        (counting from their creation), are marked polled now and handed out."""
        now = utc_now(self._clock)
        since = now - timedelta(seconds=self._settings.sender_health_poll_seconds)
        async with self._sessionmaker() as session, session.begin():
            if not await take_transaction_lease(await session.connection(), SENDER_HEALTH_POLLING):
                return []
            last = func.coalesce(Sender.health_polled_at, Sender.created_at)
            due = await session.execute(
                select(Sender)
                .where(
                    Sender.status == "active",
                    or_(Sender.poll_requested_at.is_not(None), last <= since),
                )
                .order_by(Sender.poll_requested_at.is_(None), last)  # asked for, then oldest
                .limit(POLLS_PER_ROUND)
            )
            polls = []
            for sender in due.scalars():
                sender.health_polled_at, sender.poll_requested_at = now, None
                with contextlib.suppress(Conflict):  # an unreadable token: nothing to poll
                    token = resolve_token(sender, self._settings)
                    polls.append(_Poll(sender.id, sender.phone_number_id, token))
            return polls

    async def _read(self, poll: _Poll) -> PhoneNumberInfo | WhatsAppError | None:
        try:
            return await self._client.phone_number_info(poll.phone_number_id, poll.token)
        except WhatsAppError as exc:
            return exc
        except httpx.HTTPError as exc:
            log.warning("sender health: poll of %s failed: %r", poll.phone_number_id, exc)
            return None

    async def _apply(
        self,
        session: AsyncSession,
        poll: _Poll,
        answer: PhoneNumberInfo | WhatsAppError | None,
        now: datetime,
    ) -> None:
        sender = await session.get(Sender, poll.sender_id)
        if sender is None or answer is None:
            return
        if isinstance(answer, WhatsAppError):
            text = answer.details or answer.message
            await sender_health.after_poll_refused(session, sender, answer.code, text, now)
            return
        await sender_health.after_poll(session, sender, sender_health.Observation.of(answer), now)

    # Alert webhooks --------------------------------------------------------------------

    async def deliver_due(self) -> int:
        deliveries = await self._claim_deliveries()
        results = await asyncio.gather(*(self._post(d) for d in deliveries))
        if deliveries:
            await self._record(list(zip(deliveries, results, strict=True)))
        return len(deliveries)

    async def _claim_deliveries(self) -> list[_Delivery]:
        """Due alerts (``SKIP LOCKED``), pushed past the timeout so no other process takes
        them while this one posts."""
        now = utc_now(self._clock)
        key = self._settings.encryption_key.get_secret_value()
        async with self._sessionmaker() as session, session.begin():
            rows = await session.execute(
                select(SenderAlert, AlertWebhook, Sender)
                .join(AlertWebhook, AlertWebhook.tenant_id == SenderAlert.tenant_id)
                .join(Sender, Sender.id == SenderAlert.sender_id)
                .where(SenderAlert.delivery == "pending", SenderAlert.deliver_after <= now)
                .order_by(SenderAlert.deliver_after)
                .limit(DELIVERIES_PER_ROUND)
                .with_for_update(of=SenderAlert, skip_locked=True)
            )
            deliveries = []
            for alert, webhook, sender in rows:
                alert.deliver_after = now + timedelta(
                    seconds=2 * self._settings.alert_webhook_timeout_seconds
                )
                secret = decrypt_secret(webhook.secret_encrypted, key) or ""
                body = json.dumps(
                    {"type": "sender.alert", "alert": alert_json(alert, sender)},
                    separators=(",", ":"),
                ).encode()
                deliveries.append(_Delivery(alert.id, webhook.url, secret, body))
            return deliveries

    async def _post(self, delivery: _Delivery) -> str | None:
        """None when the receiver answered 2xx, else what went wrong (never the secret)."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.secret, delivery.body),
        }
        try:
            response = await self._http.post(delivery.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        return None if response.is_success else f"HTTP {response.status_code}"

    async def _record(self, results: list[tuple[_Delivery, str | None]]) -> None:
        now = utc_now(self._clock)
        async with self._sessionmaker() as session, session.begin():
            for delivery, error in results:
                alert = await session.get(SenderAlert, delivery.alert_id)
                if alert is None:
                    continue
                alert.delivery_attempts += 1
                alert.delivery_error = error
                if error is None:
                    alert.delivery, alert.deliver_after = "delivered", None
                elif alert.delivery_attempts >= self._settings.alert_webhook_max_attempts:
                    alert.delivery, alert.deliver_after = "failed", None
                else:
                    delay = min(MAX_RETRY_DELAY, 2.0**alert.delivery_attempts)
                    alert.deliver_after = now + timedelta(seconds=delay)
