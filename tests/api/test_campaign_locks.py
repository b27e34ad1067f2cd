"""Sends and an inbound round on the same rows, at once, on PostgreSQL.

The inbound round (runtime/domain/webhook_ingest) locks the contacts' conversations first and
writes the contacts after; a campaign round (runtime/outbound/batch.submit_batch) and an
agent's send (runtime/outbound/queue.submit) take the same order: the conversations (waited
for), then the contacts for the marketing cap. The round also locks the messages its statuses
name up front, in id order, the order the send worker records wamids in. Each test here
deadlocked on the code before its fix (PostgreSQL aborted one side)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from runtime.clock import utc_now
from runtime.domain import inbox
from runtime.domain.webhook_ingest import finish_round, ingest, prepare_round
from runtime.models import Contact, Conversation, Message
from runtime.outbound.batch import BatchConflict
from runtime.settings import Settings
from tests.api.harness import TenantCtx
from tests.api.test_campaigns import _act, _results, _setup
from tests.api.test_ingest_pipeline import _text_webhook
from tests.api.whatsapp_world import WhatsAppWorld
from tests.conftest import make_settings
from tests.services import require_postgres
from tests.support import postgres_database, wait_for

CONTACTS = 6
ROUND_DEADLINE = 60.0  # seconds a round may take on the loaded shared machine


@pytest.fixture
def settings() -> Iterator[Settings]:
    """A database of its own: the only lock waits in it are this test's."""
    with postgres_database(require_postgres(), "scrm_campaign_locks") as url:
        yield make_settings(url, campaign_work=False, outbound_work=False)


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[WhatsAppWorld]:
    harness = WhatsAppWorld(settings, auto_statuses=())
    try:
        yield harness
    finally:
        await harness.close()


def _inbound(sender: dict[str, Any], people: list[dict[str, Any]], tag: str) -> list[Any]:
    """One text webhook from each contact to ``sender``."""
    return [
        json.loads(
            _text_webhook(
                sender["phone_number_id"], p["phone"].lstrip("+"), f"wamid.{tag}.{p['id']}", "hi"
            )
        )
        for p in people
    ]


async def _apply_inbound(world: WhatsAppWorld, payloads: list[Any], now: datetime) -> None:
    """An inbound round as the processor applies one, in one transaction."""
    async with world.app.state.sessionmaker() as session:
        await prepare_round(session, payloads)
        for payload in payloads:
            await ingest(session, payload, now)
        await finish_round(session)
        await session.commit()


async def _campaign_talking_to_its_audience(
    world: WhatsAppWorld,
) -> tuple[TenantCtx, dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A launched MARKETING campaign under a marketing cap (so a round locks its contacts),
    whose contacts already have a conversation with its number and no name (so the next
    inbound message from each writes the contact row)."""
    ctx, sender, people, campaign = await _setup(world, CONTACTS)
    policy = await world.client.put(
        "/api/consent/policy",
        headers=ctx.headers,
        json={"marketing_limit": {"count": 5, "days": 1}},
    )
    assert policy.status_code == 200, policy.text
    await _apply_inbound(world, _inbound(sender, people, "first"), utc_now(world.app.state.clock))
    ids = [uuid.UUID(p["id"]) for p in people]
    async with world.app.state.sessionmaker() as session:
        talks = await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.contact_id.in_(ids))
        )
        assert talks == CONTACTS
        await session.execute(update(Contact).where(Contact.id.in_(ids)).values(name=""))
        await session.commit()
    launched = await _act(world, ctx, campaign, "launch")
    assert launched["totals"]["pending"] == CONTACTS
    return ctx, sender, people, campaign


async def _someone_waits_on_a_lock(world: WhatsAppWorld) -> bool:
    async with world.app.state.sessionmaker() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_campaign_round_and_inbound_round_on_the_same_contacts_do_not_deadlock(
    world: WhatsAppWorld,
) -> None:
    """The inbound round holds the conversations; the campaign round waits for them while
    holding no contact; the inbound round then writes the contacts (the names it learns) and
    commits; the campaign round goes on and queues every recipient. With the old order the
    campaign round held the contacts while waiting: PostgreSQL found a deadlock."""
    ctx, sender, people, campaign = await _campaign_talking_to_its_audience(world)
    payloads = _inbound(sender, people, "second")
    now = utc_now(world.app.state.clock)
    async with world.app.state.sessionmaker() as inbound:
        await prepare_round(inbound, payloads)  # the conversations, locked
        feeding = asyncio.create_task(world.app.state.campaigns.feed_round())
        await wait_for(lambda: _someone_waits_on_a_lock(world), within=ROUND_DEADLINE)
        for payload in payloads:
            await ingest(inbound, payload, now)  # writes each contact's name
        await finish_round(inbound)
        await inbound.commit()
    queued = await asyncio.wait_for(feeding, ROUND_DEADLINE)

    assert queued == CONTACTS
    assert (await _results(world, ctx, campaign))["totals"]["queued"] == CONTACTS
    ids = [uuid.UUID(p["id"]) for p in people]
    async with world.app.state.sessionmaker() as session:
        names = set(await session.scalars(select(Contact.name).where(Contact.id.in_(ids))))
        inbound_messages = await session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.contact_id.in_(ids), Message.direction == "inbound")
        )
    assert names == {"Budi"}
    assert inbound_messages == 2 * CONTACTS


async def test_a_contact_held_elsewhere_is_retried_next_round_not_waited_for(
    world: WhatsAppWorld,
) -> None:
    """A contact another transaction is writing (uncommitted) does not stall the round: its
    recipient stays pending and the others are queued; once it is released, the next round
    queues it."""
    ctx, _, people, campaign = await _campaign_talking_to_its_audience(world)
    held = uuid.UUID(people[0]["id"])
    async with world.app.state.sessionmaker() as writer:
        await writer.execute(update(Contact).where(Contact.id == held).values(name="Writing"))
        first = await asyncio.wait_for(world.app.state.campaigns.feed_round(), ROUND_DEADLINE)
        await writer.commit()
    assert first == CONTACTS - 1
    totals = (await _results(world, ctx, campaign))["totals"]
    assert (totals["queued"], totals["pending"]) == (CONTACTS - 1, 1)
    second = await asyncio.wait_for(world.app.state.campaigns.feed_round(), ROUND_DEADLINE)
    assert second == 1
    assert (await _results(world, ctx, campaign))["totals"]["queued"] == CONTACTS


async def test_an_agents_send_and_an_inbound_round_on_the_same_contact_do_not_deadlock(
    world: WhatsAppWorld,
) -> None:
    """An agent sends a marketing template (so the send locks the contact for the cap) to a
    contact whose message an inbound round is applying: the round holds the conversation
    and then writes the contact. The send takes the conversation first, so it waits holding
    nothing; before, it locked the contact first and PostgreSQL found a deadlock."""
    ctx, sender, people, campaign = await _campaign_talking_to_its_audience(world)
    person = people[0]
    async with world.app.state.sessionmaker() as session:
        talk = await session.scalar(
            select(Conversation.id).where(Conversation.contact_id == uuid.UUID(person["id"]))
        )
    payloads = _inbound(sender, [person], "agent")
    now = utc_now(world.app.state.clock)
    async with world.app.state.sessionmaker() as inbound:
        await prepare_round(inbound, payloads)  # the conversation, locked
        sending = asyncio.create_task(
            world.client.post(
                f"/api/conversations/{talk}/messages",
                headers=ctx.headers,
                json=_template_message(campaign),
            )
        )
        await wait_for(lambda: _someone_waits_on_a_lock(world), within=ROUND_DEADLINE)
        for payload in payloads:
            await ingest(inbound, payload, now)  # writes the contact's name
        await finish_round(inbound)
        await inbound.commit()
    sent = await asyncio.wait_for(sending, ROUND_DEADLINE)

    assert sent.status_code == 202, sent.text
    async with world.app.state.sessionmaker() as session:
        contact = await session.get(Contact, uuid.UUID(person["id"]))
        seqs = list(
            await session.scalars(
                select(Message.conversation_seq)
                .where(Message.conversation_id == talk)
                .order_by(Message.conversation_seq)
            )
        )
    assert contact is not None and contact.name == "Budi"
    assert seqs == [1, 2, 3]  # the first message, then the round's and the send's, numbered


def _template_message(campaign: dict[str, Any]) -> dict[str, Any]:
    """An agent's send of the campaign's MARKETING template (the cap locks the contact)."""
    template = {"name": campaign["template"]["name"], "language": "en_US",
                "parameters": {"body": ["Budi", "Jakarta"]}}  # fmt: skip
    return {"type": "template", "template": template}


def _status_webhook(sender: dict[str, Any], phone: str, message_id: str) -> Any:
    """Meta's ``sent`` for one of our messages, found by its callback data (no wamid stored)."""
    status = {"id": f"wamid.st.{message_id}", "status": "sent", "timestamp": "1700000001",
              "recipient_id": phone.lstrip("+"),
              "biz_opaque_callback_data": message_id}  # fmt: skip
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": sender["phone_number_id"]},
        "statuses": [status],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


async def test_a_rounds_statuses_and_the_send_workers_wamids_do_not_deadlock(
    world: WhatsAppWorld,
) -> None:
    """An inbound round applies the statuses of two of our messages, the higher id first,
    each flushed on its own; meanwhile the send worker records both messages' wamids in id
    order. The round locks the messages its statuses name up front, in id order, so the
    worker waits for it holding nothing; before, the round updated the higher id first, the
    worker took the lower and waited, and PostgreSQL found a deadlock."""
    ctx, sender, people, campaign = await _campaign_talking_to_its_audience(world)
    person = people[0]
    async with world.app.state.sessionmaker() as session:
        talk = await session.scalar(
            select(Conversation.id).where(Conversation.contact_id == uuid.UUID(person["id"]))
        )
    sent = []
    for _ in range(2):
        reply = await world.client.post(
            f"/api/conversations/{talk}/messages",
            headers=ctx.headers,
            json=_template_message(campaign),
        )
        assert reply.status_code == 202, reply.text
        sent.append(uuid.UUID(reply.json()["id"]))
    low, high = sorted(sent)
    statuses = {m: _status_webhook(sender, person["phone"], str(m)) for m in (low, high)}
    now = utc_now(world.app.state.clock)

    async def record_wamids() -> None:
        """As the send worker records Meta's answers: one transaction, in message-id order."""
        async with world.app.state.sessionmaker() as worker:
            for message_id in (low, high):
                await worker.execute(
                    update(Message)
                    .where(Message.id == message_id, Message.wamid.is_(None))
                    .values(wamid=f"wamid.worker.{message_id}")
                )
            await worker.commit()

    async with world.app.state.sessionmaker() as inbound:
        await prepare_round(inbound, list(statuses.values()))
        await ingest(inbound, statuses[high], now)
        await inbound.flush()
        recording = asyncio.create_task(record_wamids())
        await wait_for(lambda: _someone_waits_on_a_lock(world), within=ROUND_DEADLINE)
        await ingest(inbound, statuses[low], now)
        await inbound.flush()
        await finish_round(inbound)
        await inbound.commit()
    await asyncio.wait_for(recording, ROUND_DEADLINE)

    async with world.app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Message.id, Message.status, Message.wamid).where(Message.id.in_(sent))
            )
        ).all()
    # The round gave each its wamid first; the worker's "unless already given" kept them.
    assert {(r.id, r.status, r.wamid) for r in rows} == {
        (m, "sent", f"wamid.st.{m}") for m in (low, high)
    }


async def test_a_conversation_created_meanwhile_fails_the_round_which_the_next_one_uses(
    world: WhatsAppWorld,
) -> None:
    """A conversation with a recipient is created (uncommitted) after the campaign round
    locked the stored ones: the round's INSERT waits for it and, once it is committed, fails
    with BatchConflict, storing nothing; the next round queues the recipient in it."""
    ctx, sender, people, campaign = await _setup(world, 1)
    await _act(world, ctx, campaign, "launch")
    state = world.app.state
    async with state.sessionmaker() as other:
        contact = await other.get(Contact, uuid.UUID(people[0]["id"]))
        assert contact is not None
        talk = await inbox.conversation_for(
            other, ctx.id, uuid.UUID(sender["id"]), contact, utc_now(state.clock)
        )
        await other.flush()
        feeding = asyncio.create_task(state.campaigns.feed_round())
        await wait_for(lambda: _someone_waits_on_a_lock(world), within=ROUND_DEADLINE)
        await other.commit()
    with pytest.raises(BatchConflict, match="conversation"):
        await asyncio.wait_for(feeding, ROUND_DEADLINE)
    assert (await _results(world, ctx, campaign))["totals"]["queued"] == 0

    assert await asyncio.wait_for(state.campaigns.feed_round(), ROUND_DEADLINE) == 1
    async with state.sessionmaker() as session:
        talks = await session.scalars(
            select(Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.contact_id == contact.id)
        )
        assert list(talks) == [talk.id]
