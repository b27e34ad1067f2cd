"""The send worker: claim due rows, hand them to Meta at their slots, record the outcomes.

A round is one short transaction: claim due ``queued`` rows (``FOR UPDATE SKIP LOCKED``;
SQLite's ``BEGIN IMMEDIATE`` makes it single-writer), lock the limits they need, give each
row a send slot or a later ``not_before``, and turn the granted rows ``sending`` with a
fresh ``attempt_id`` — committed before Meta is called. The sends then run outside any
transaction, each at its slot, with ``biz_opaque_callback_data`` = the message id; their
outcomes are recorded together in one more transaction. A row found ``sending`` past its
lease (its worker died) is never sent again: its message becomes ``unknown``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.clock import Clock, utc_now
from runtime.domain import inbox, sender_health
from runtime.domain.sender_tokens import resolve_token
from runtime.media.store import MediaStore
from runtime.models import Conversation, Message, Sender, SendQueueItem
from runtime.outbound import health, limits
from runtime.outbound.media import upload, upload_outcome
from runtime.outbound.outcomes import (
    Accepted,
    Late,
    Outcome,
    Refused,
    Retry,
    Unknown,
    classify,
)
from runtime.settings import Settings
from runtime.waiting import wait_set
from runtime.whatsapp.client import CloudAPIClient, SendResult

log = logging.getLogger(__name__)

HORIZON = 0.5  # seconds of slots one round may hand out ahead
LEAD = 0.25  # claim a number's next slots this long before the last ones claimed run out
# A send may start at most ``SCRM_OUTBOUND_LATE_TOLERANCE_SECONDS`` after its slot; later,
# it is not sent but queued again (sends delayed by a stall would go out in a burst), and the
# number's slots are spaced so that this lateness cannot put more than its rate into any
# 1-s window (limits.number_interval).
MAX_IN_FLIGHT = 4_000  # sends claimed but not yet recorded, per worker


@dataclass
class Claim:
    """A row turned ``sending`` in this process: what to send, to whom, when."""

    message_id: uuid.UUID
    attempt_id: uuid.UUID
    sender_id: uuid.UUID
    phone_number_id: str
    token: str
    recipient: str
    request: dict[str, object]
    send_at: float
    late_after: float  # send_at + tolerance: past this, do not send
    number_key: str
    pair_key: str
    deferrals: int
    refusal: Refused | None = None  # refused before sending (sender out of service)


@dataclass(frozen=True)
class _Due:
    """A due ``queued`` row claimed in a round (plain values: no ORM object per row)."""

    message_id: uuid.UUID
    sender_id: uuid.UUID
    recipient: str
    request: dict[str, object]
    business_initiated: bool
    deferrals: int


@dataclass
class _Plan:
    """What one claim round decided, and when the next round is worth it."""

    claims: list[Claim]
    deferred: list[dict[str, object]]  # bulk UPDATE parameters: message_id, not_before, …
    next_due: float | None = None

    def defer(self, row: _Due, at: float, reason: str) -> None:
        self.deferred.append(
            {"message_id": row.message_id, "not_before": utc_now_at(at), "wait_reason": reason}
        )
        self.note_due(at)

    def note_due(self, at: float) -> None:
        self.next_due = at if self.next_due is None else min(self.next_due, at)


class SendWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        client: CloudAPIClient,
        settings: Settings,
        clock: Clock,
        media_store: MediaStore,
        on_sender_health: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_sender_health``: called after a refusal marked a sender's health (the
        health monitor polls it then); ``media_store``: where the files of media sends are."""
        self._sessionmaker = sessionmaker
        self._client = client
        self._media_store = media_store
        self._settings = settings
        self._clock = clock
        self._on_sender_health = on_sender_health
        self._pair_tolerance = (settings.outbound_pair_burst - 1) * limits.PAIR_INTERVAL
        self._late = settings.outbound_late_tolerance_seconds
        self._batch = settings.outbound_batch_size
        self._woken = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._pending_claims = 0
        self._commit_lag = 0.0  # how long the last claim round took (seconds)
        self.late_sends = 0  # sends reached past their late tolerance (queued again), so far

    # Lifecycle -------------------------------------------------------------------------

    def wake(self) -> None:
        """Rows were queued (or are due): claim them (starts the loop if it is not running)."""
        if self._stopping:
            return
        self._woken.set()
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._run(), name="outbound-worker")

    async def close(self) -> None:
        """Stop claiming and let the sends under way finish and be recorded. The round under
        way ends by itself: cancelled mid-transaction, it could strand its connection (the
        only one, on SQLite). Calling it again is harmless."""
        self._stopping = True
        self._woken.set()
        if self._loop is not None:
            await asyncio.gather(self._loop, return_exceptions=True)
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self.late_sends:
            log.warning(
                "outbound worker: %d sends were reached past their late tolerance and queued "
                "again (a loaded process; see SCRM_OUTBOUND_LATE_TOLERANCE_SECONDS)",
                self.late_sends,
            )

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    async def _run(self) -> None:
        poll = self._settings.outbound_poll_seconds
        maintained = -math.inf
        while not self._stopping:
            self._woken.clear()
            try:
                if self._clock.now() - maintained >= poll:
                    maintained = self._clock.now()
                    await self.maintain()
                claimed, next_due = await self.claim_round()
            except Exception:
                log.exception("outbound worker: round failed; retrying")
                claimed, next_due = 0, None
            if claimed >= self._batch and self._pending_claims < MAX_IN_FLIGHT:
                continue
            wait = poll
            if next_due is not None:  # claim the next slots while these are being sent
                wait = min(poll, max(0.0, next_due - LEAD - self._clock.now()))
            if wait > 0:
                await wait_set(self._woken, wait)

    # Claiming --------------------------------------------------------------------------

    async def claim_round(self) -> tuple[int, float | None]:
        """Claim what may go now and start sending it; returns (claimed, when claiming
        again is worth it: the earliest next slot or deferral)."""
        plan = await self._claim()
        if plan.claims:
            self._pending_claims += len(plan.claims)
            task = asyncio.create_task(self._send_all(plan.claims))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(plan.claims), plan.next_due

    async def _claim(self) -> _Plan:
        """One round. Per number with due rows: lock its limit row, then claim only as many
        rows as it has slots within the horizon (``SKIP LOCKED``), so no number waits behind
        another's backlog and nothing is claimed just to be put back. Locks are taken in
        one order (number rows, then pair and budget rows by key): no deadlocks. The rows
        are read and written set-wise (a bulk UPDATE by primary key each for the claimed,
        the deferred and the pacing rows), whatever the batch size."""
        began = time.monotonic()
        now_at = utc_now(self._clock)
        # Slots start when this round will have committed (as long as the last one took):
        # a round's own latency must not make its first sends late (then they would not go,
        # their slots spent, and a slow round would slow the next: a spiral under load).
        now = now_at.timestamp() + self._commit_lag
        plan = _Plan([], [])
        try:
            async with self._sessionmaker() as session, session.begin():
                await self._claim_in(session, plan, now, now_at)
        finally:
            self._commit_lag = min(HORIZON / 2, time.monotonic() - began)
        return plan

    async def _claim_in(
        self, session: AsyncSession, plan: _Plan, now: float, now_at: datetime
    ) -> None:
        due = await session.execute(
            select(SendQueueItem.sender_id)
            .where(SendQueueItem.state == "queued", SendQueueItem.not_before <= now_at)
            .group_by(SendQueueItem.sender_id)
        )
        sender_ids = set(due.scalars())
        if not sender_ids:
            return
        senders = {
            s.id: s
            for s in (
                await session.execute(select(Sender).where(Sender.id.in_(sender_ids)))
            ).scalars()
        }
        numbers = await limits.lock(session, {limits.number_key(i) for i in senders})
        rows: list[_Due] = []
        for sender in senders.values():
            number = self._number_pace(numbers, sender)
            room = number.room(now, now + HORIZON) if sender.status == "active" else 1
            if room == 0:
                plan.note_due(number.slot(now))
                continue
            rows += await _claim_rows(session, sender.id, min(room, self._batch), now_at)
        paces: dict[str, limits.PaceRow] = {}
        if rows:
            paces = await self._plan(session, senders, numbers, rows, now, now_at, plan)
        await _write_plan(session, plan, now_at)
        await limits.save(session, [*numbers.values(), *paces.values()])

    def _number_pace(self, numbers: dict[str, limits.PaceRow], sender: Sender) -> limits.Pace:
        interval = limits.number_interval(sender.throughput_mps, self._late)
        return limits.Pace(numbers[limits.number_key(sender.id)], interval)

    async def _plan(
        self,
        session: AsyncSession,
        senders: dict[uuid.UUID, Sender],
        numbers: dict[str, limits.PaceRow],
        rows: list[_Due],
        now: float,
        now_at: datetime,
        plan: _Plan,
    ) -> dict[str, limits.PaceRow]:
        """Give each claimed row a slot (number, pair, budget) or a later ``not_before``;
        returns the pair and budget rows it locked."""
        business = [row for row in rows if row.business_initiated]
        portfolios = {senders[row.sender_id].waba_id for row in business}
        keys = {limits.pair_key(row.sender_id, row.recipient) for row in rows}
        keys |= {limits.budget_key(portfolio) for portfolio in portfolios}
        paces = await limits.lock(session, keys)
        budgets = {
            portfolio: await limits.Budget.load(
                session,
                portfolio,
                _tier(senders.values(), portfolio),
                {row.recipient for row in business},
                now_at,
            )
            for portfolio in portfolios
        }
        horizon = now + HORIZON
        tokens: dict[uuid.UUID, str | Refused] = {}
        for row in rows:
            sender = senders[row.sender_id]
            number = self._number_pace(numbers, sender)
            pair = limits.Pace(
                paces[limits.pair_key(sender.id, row.recipient)],
                limits.PAIR_INTERVAL,
                self._pair_tolerance,
            )
            refusal = self._unsendable(sender, row.business_initiated)
            at = now
            if refusal is None:
                number_slot, pair_slot = number.slot(now), pair.slot(now)
                if number_slot > horizon:
                    plan.defer(row, number_slot, _why(number, now, "throughput"))
                    continue
                if pair_slot > horizon:
                    plan.defer(row, pair_slot, _why(pair, now, "pair_rate"))
                    continue
                budget = budgets.get(sender.waba_id) if row.business_initiated else None
                if budget is not None and not budget.admit(row.recipient):
                    plan.defer(
                        row, (await budget.frees_at(session, now_at)).timestamp(), "daily_limit"
                    )
                    continue
                at = max(number_slot, pair_slot)
                number.take(at)
                pair.take(at)
            plan.claims.append(self._claim_of(row, sender, at, refusal, tokens))
        for sender in senders.values():
            plan.note_due(self._number_pace(numbers, sender).slot(now))
        for budget in budgets.values():
            await budget.save(session, now_at)
        return paces

    def _unsendable(self, sender: Sender, business_initiated: bool) -> Refused | None:
        """Refused here, never sent: a sender out of service or whose token Meta refused;
        for new outreach also one that is unhealthy (sending again fails it over)."""
        if (blocker := sender_health.session_blocker(sender)) is not None:
            return Refused(None, f"Sender {sender.display_number} is {blocker}.")
        if business_initiated and (blocker := sender_health.outreach_blocker(sender)):
            return Refused(
                None,
                f"Sender {sender.display_number} is {blocker}: not used for new outreach; "
                "send again to use the next healthy number.",
            )
        return None

    def _claim_of(
        self,
        row: _Due,
        sender: Sender,
        at: float,
        refusal: Refused | None,
        tokens: dict[uuid.UUID, str | Refused],
    ) -> Claim:
        """``tokens``: the round's senders' tokens, each decrypted once (added to here)."""
        token = ""
        if refusal is None:
            if sender.id not in tokens:
                tokens[sender.id] = self._token(sender)
            found = tokens[sender.id]
            token, refusal = ("", found) if isinstance(found, Refused) else (found, None)
        return Claim(
            message_id=row.message_id,
            attempt_id=uuid.uuid4(),
            sender_id=sender.id,
            phone_number_id=sender.phone_number_id,
            token=token,
            recipient=row.recipient,
            request=row.request,
            send_at=at,
            late_after=at + self._late,
            number_key=limits.number_key(sender.id),
            pair_key=limits.pair_key(sender.id, row.recipient),
            deferrals=row.deferrals,
            refusal=refusal,
        )

    def _token(self, sender: Sender) -> str | Refused:
        try:
            return resolve_token(sender, self._settings)
        except Exception as exc:  # a missing or unreadable token is the sender's fault
            return Refused(None, f"The sender's access token cannot be read: {exc}")

    # Sending ---------------------------------------------------------------------------

    async def _send_all(self, claims: list[Claim]) -> None:
        try:
            outcomes = await asyncio.gather(*(self._send(claim) for claim in claims))
            await self._record(list(zip(claims, outcomes, strict=True)))
        except Exception:
            # The rows stay ``sending``; recovery makes them ``unknown`` after the lease.
            log.exception("outbound worker: recording %d outcomes failed", len(claims))
        finally:
            self._pending_claims -= len(claims)

    async def _send(self, claim: Claim) -> Outcome:
        if claim.refusal is not None:
            return claim.refusal
        delay = claim.send_at - self._clock.now()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._clock.now() > claim.late_after:
            return Late()
        try:
            request = await self._uploaded(claim)
        except Exception as exc:
            return upload_outcome(exc, claim.deferrals)
        try:
            async with asyncio.timeout(self._settings.outbound_send_timeout_seconds):
                result = await self._call(claim, request)
        except TimeoutError:
            return Unknown("No answer from Meta in time; the message may have been sent.")
        except Exception as exc:
            return classify(exc, claim.deferrals)
        return Accepted(result.message_id)

    async def _uploaded(self, claim: Claim) -> dict[str, object]:
        """The Graph call of ``claim``: a media send's file is uploaded to Meta first (an
        upload whose answer was lost is only an unused copy at Meta: safe to repeat)."""
        if claim.request["kind"] != "media":
            return claim.request
        async with asyncio.timeout(self._settings.outbound_send_timeout_seconds):
            return await upload(self._client, self._media_store, claim)

    async def _call(self, claim: Claim, call: dict[str, object]) -> SendResult:
        request = dict(call)
        kind = request.pop("kind")
        common = {
            "phone_number_id": claim.phone_number_id,
            "token": claim.token,
            "to": claim.recipient,
            "callback_data": str(claim.message_id),
            "once": True,
        }
        if kind == "text":
            return await self._client.send_text(**common, **request)  # type: ignore[arg-type]
        if kind == "template":
            return await self._client.send_template(**common, **request)  # type: ignore[arg-type]
        if kind == "media":
            return await self._client.send_media(**common, kind=request.pop("type"), **request)  # type: ignore[arg-type]
        return await self._client.send_content(**common, kind=kind, **request)  # type: ignore[arg-type]

    # Recording -------------------------------------------------------------------------

    async def _record(self, results: list[tuple[Claim, Outcome]]) -> None:
        """One transaction per batch. The common outcomes (accepted, late) are written
        set-wise; the rare ones (refused, retry, unknown) row by row, with their events. An
        outcome counts only while the row still carries the claim's attempt id (else
        recovery took the row over: it outlived its lease)."""
        accepted = {c.attempt_id: o.wamid for c, o in results if isinstance(o, Accepted)}
        late = [c for c, o in results if isinstance(o, Late)]
        self.late_sends += len(late)
        others: list[tuple[Claim, Outcome]] = [
            (c, o) for c, o in results if not isinstance(o, Accepted | Late)
        ]
        refusals: list[tuple[uuid.UUID, Refused]] = []
        async with self._sessionmaker() as session, session.begin():
            if accepted:
                await _record_accepted(session, [c for c, _ in results], accepted)
            if late:
                await _requeue_late(session, late)
            if others:
                refusals = await self._record_each(session, others)
        if refusals:
            await self._mark_health(refusals, utc_now(self._clock))

    async def _record_each(
        self, session: AsyncSession, results: list[tuple[Claim, Outcome]]
    ) -> list[tuple[uuid.UUID, Refused]]:
        now, now_at = self._clock.now(), utc_now(self._clock)
        ids = [claim.message_id for claim, _ in results]
        refusals: list[tuple[uuid.UUID, Refused]] = []
        items = await _items(session, ids, "sending")
        messages, conversations = await _messages(session, ids)
        for claim, outcome in results:
            item = items.get(claim.message_id)
            if item is None or item.attempt_id != claim.attempt_id:
                continue
            message = messages[claim.message_id]
            conversation = conversations[message.conversation_id]
            if isinstance(outcome, Retry):
                if outcome.limit == "number":
                    await limits.back_off(session, claim.number_key, now + outcome.delay)
                elif outcome.limit == "pair":
                    await limits.back_off(session, claim.pair_key, now + outcome.delay)
                if item.deferrals + 1 < self._settings.outbound_max_deferrals:
                    _requeue(item, outcome, now)
                    continue
                outcome = Refused(outcome.code, outcome.text)
            if isinstance(outcome, Refused):
                refusals.append((claim.sender_id, outcome))
            await self._apply(session, item, message, conversation, outcome, now_at)
        return refusals

    async def _mark_health(self, refusals: list[tuple[uuid.UUID, Refused]], now: datetime) -> None:
        """After the outcomes are committed, in a transaction of its own (it locks sender
        rows, which webhooks lock too): mark the senders Meta's codes concern."""
        async with self._sessionmaker() as session, session.begin():
            marked = await health.note_refusals(session, refusals, now)
        if marked:
            self._on_sender_health()

    async def _apply(
        self,
        session: AsyncSession,
        item: SendQueueItem,
        message: Message,
        conversation: Conversation,
        outcome: Outcome,
        now_at: datetime,
    ) -> None:
        if isinstance(outcome, Accepted):
            message.wamid = message.wamid or outcome.wamid
            await session.delete(item)
        elif isinstance(outcome, Refused):
            if inbox.status_advances(message.status, "failed"):
                message.status, message.status_updated_at = "failed", now_at
                message.error_code, message.error_message = outcome.code, outcome.text[:500]
                await inbox.emit_message(session, conversation, message, "message.status")
                await inbox.reaction_failed(session, conversation, message)
            await session.delete(item)
        elif isinstance(outcome, Unknown):
            await self._make_unknown(session, item, message, conversation, now_at, outcome.text)

    async def _make_unknown(
        self,
        session: AsyncSession,
        item: SendQueueItem,
        message: Message,
        conversation: Conversation,
        now_at: datetime,
        why: str,
    ) -> None:
        """Maybe sent: never again by itself. A status webhook will tell; meanwhile the row
        waits (``unknown``) to flag the message "not confirmed" if none comes in time."""
        if message.status != "queued":  # a status webhook already told what happened
            await session.delete(item)
            return
        message.status, message.status_updated_at = "unknown", now_at
        message.error_code, message.error_message = None, why[:500]
        item.state, item.attempt_id = "unknown", None
        item.not_before = now_at + timedelta(
            seconds=self._settings.outbound_unconfirmed_after_seconds
        )
        await inbox.emit_message(session, conversation, message, "message.status")

    # Maintenance -----------------------------------------------------------------------

    async def maintain(self) -> None:
        """Recover rows whose worker died mid-send, and flag unknown outcomes that no status
        webhook resolved in time as "not confirmed"."""
        now, now_at = self._clock.now(), utc_now(self._clock)
        lease = timedelta(seconds=self._settings.outbound_sending_lease_seconds)
        async with self._sessionmaker() as session, session.begin():
            stranded = await _due(
                session, SendQueueItem.state == "sending", SendQueueItem.claimed_at < now_at - lease
            )
            unconfirmed = await _due(
                session, SendQueueItem.state == "unknown", SendQueueItem.not_before <= now_at
            )
            if not stranded and not unconfirmed:
                return
            messages, conversations = await _messages(
                session, [item.message_id for item in stranded + unconfirmed]
            )
            for item in stranded:
                message = messages[item.message_id]
                why = "The sending process stopped before Meta's answer; it may have been sent."
                await self._make_unknown(
                    session, item, message, conversations[message.conversation_id], now_at, why
                )
            for item in unconfirmed:
                message = messages[item.message_id]
                if message.status == "unknown":
                    message.not_confirmed_at = now_at
                    conversation = conversations[message.conversation_id]
                    await inbox.emit_message(session, conversation, message, "message.status")
                await session.delete(item)
            await limits.prune_pairs(session, now)


def _requeue(item: SendQueueItem, outcome: Retry, now: float) -> None:
    item.state, item.attempt_id, item.claimed_at = "queued", None, None
    item.deferrals += 1
    item.not_before = utc_now_at(now + outcome.delay)
    item.wait_reason = "backoff" if outcome.limit else "retry"


def _why(pace: limits.Pace, now: float, limit: str) -> str:
    return "backoff" if pace.row.backoff_until > now else limit


def _tier(senders: object, portfolio: str) -> str:
    """The portfolio's messaging-limit tier (its numbers share it; the highest one told)."""
    tiers = [s.messaging_limit_tier for s in senders if s.waba_id == portfolio]  # type: ignore[attr-defined]
    order = list(limits.DAILY_RECIPIENTS)
    return max(tiers, key=lambda tier: order.index(tier) if tier in order else 0)


def utc_now_at(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


async def _claim_rows(
    session: AsyncSession, sender_id: uuid.UUID, limit: int, now_at: datetime
) -> list[_Due]:
    rows = await session.execute(
        select(
            SendQueueItem.message_id,
            SendQueueItem.sender_id,
            SendQueueItem.recipient,
            SendQueueItem.request,
            SendQueueItem.business_initiated,
            SendQueueItem.deferrals,
        )
        .where(
            SendQueueItem.state == "queued",
            SendQueueItem.sender_id == sender_id,
            SendQueueItem.not_before <= now_at,
        )
        .order_by(SendQueueItem.not_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_Due(*row) for row in rows]


async def _write_plan(session: AsyncSession, plan: _Plan, now_at: datetime) -> None:
    """The claimed rows ``sending`` with their attempt ids, the deferred ones with their
    ``not_before`` and reason: one bulk UPDATE by primary key each."""
    if plan.claims:
        sending = [
            {
                "message_id": claim.message_id,
                "state": "sending",
                "attempt_id": claim.attempt_id,
                "claimed_at": now_at,
                "wait_reason": None,
            }
            for claim in plan.claims
        ]
        await session.execute(update(SendQueueItem), sending)
    if plan.deferred:
        await session.execute(update(SendQueueItem), plan.deferred)


def _attempts(claims: list[Claim]) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The rows of ``claims`` still carrying their attempt (attempt ids are unique)."""
    return (
        SendQueueItem.message_id.in_([claim.message_id for claim in claims]),
        SendQueueItem.attempt_id.in_([claim.attempt_id for claim in claims]),
    )


async def _record_accepted(
    session: AsyncSession, claims: list[Claim], wamids: dict[uuid.UUID, str]
) -> None:
    """Meta took them: the rows go (one DELETE … RETURNING), the messages get their wamid
    unless a status webhook already gave it (one executemany, in message-id order like
    every other writer of messages, so no deadlock)."""
    mine = [claim for claim in claims if claim.attempt_id in wamids]
    done = await session.execute(
        delete(SendQueueItem).where(*_attempts(mine)).returning(SendQueueItem.attempt_id)
    )
    still_mine = set(done.scalars())
    handed = sorted(
        (claim.message_id, wamids[claim.attempt_id])
        for claim in mine
        if claim.attempt_id in still_mine
    )
    if handed:
        connection = await session.connection()  # Core executemany: the WHERE is not the key
        await connection.execute(
            update(Message)
            .where(Message.id == bindparam("b_id"), Message.wamid.is_(None))
            .values(wamid=bindparam("b_wamid")),
            [{"b_id": message_id, "b_wamid": wamid} for message_id, wamid in handed],
        )


async def _requeue_late(session: AsyncSession, claims: list[Claim]) -> None:
    """Not sent (reached too late): back to the queue as they were (their slots are spent)."""
    await session.execute(
        update(SendQueueItem)
        .where(*_attempts(claims))
        .values(state="queued", attempt_id=None, claimed_at=None)
    )


async def _due(session: AsyncSession, *conditions: object) -> list[SendQueueItem]:
    rows = await session.execute(
        select(SendQueueItem)
        .where(*conditions)  # type: ignore[arg-type]
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    return list(rows.scalars())


async def _items(
    session: AsyncSession, ids: list[uuid.UUID], state: str
) -> dict[uuid.UUID, SendQueueItem]:
    rows = await session.execute(
        select(SendQueueItem)
        .where(SendQueueItem.message_id.in_(ids), SendQueueItem.state == state)
        .with_for_update()
    )
    return {row.message_id: row for row in rows.scalars()}


async def _messages(
    session: AsyncSession, ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, Message], dict[uuid.UUID, Conversation]]:
    """The messages (locked: a status webhook applied meanwhile waits for this transaction)
    and their conversations."""
    messages = {
        m.id: m
        for m in (
            await session.execute(
                select(Message)
                .where(Message.id.in_(ids))
                .order_by(Message.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalars()
    }
    conversations = {
        c.id: c
        for c in (
            await session.execute(
                select(Conversation).where(
                    Conversation.id.in_({m.conversation_id for m in messages.values()})
                )
            )
        ).scalars()
    }
    return messages, conversations
