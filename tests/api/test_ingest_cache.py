"""The inbound processor keeps senders, holding teams and consent keywords across rounds and
drops them the moment any process changes them (``config_epoch``, runtime/db/config_cache.py):
a round of one webhook reads no configuration, and a change made through another engine is
seen by the very next round."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.config_cache import ConfigCache, config_cache
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.consent import update_policy
from runtime.models import ConfigEpoch, Contact, Message, Sender, SenderAllocation, Team
from tests.api.harness import TenantCtx
from tests.api.test_ingest_pipeline import (
    _pause_processing,
    _statements_of_one_round,
    _text_webhook,
)
from tests.api.whatsapp_world import WhatsAppWorld

_CONFIGURATION = ("senders", "tenants", "teams", "sender_allocations", "outreach_policies")


@contextlib.asynccontextmanager
async def _another_process(world: WhatsAppWorld) -> AsyncIterator[AsyncSession]:
    """A transaction of an engine of its own (as another pod's), committed on exit."""
    engine = make_engine(world.settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def _tenant_with_sender(world: WhatsAppWorld) -> tuple[TenantCtx, dict[str, Any]]:
    """A tenant whose number is held by one agent (no team holds it)."""
    _pause_processing(world)
    ctx = await world.new_tenant()
    agent, _ = await world.new_agent(ctx)
    return ctx, await world.add_sender(ctx, [agent["id"]])


def _customer() -> tuple[str, str]:
    """A new customer's number and a wamid of theirs, unique in the test database."""
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"62812{digits}", f"wamid.cache-{digits}"


async def _customer_writes(world: WhatsAppWorld, number: str, text: str) -> tuple[str, list[str]]:
    """A new customer writes ``text`` to ``number``, applied in a round of its own: their
    E.164 phone and the round's SQL."""
    wa_id, wamid = _customer()
    statements = await _statements_of_one_round(world, [_text_webhook(number, wa_id, wamid, text)])
    return f"+{wa_id}", statements


async def _contact(world: WhatsAppWorld, ctx: TenantCtx, phone: str) -> Contact:
    async with world.app.state.sessionmaker() as session:
        found = await session.scalar(
            select(Contact).where(Contact.tenant_id == ctx.id, Contact.phone == phone)
        )
    assert found is not None, phone
    return found


async def test_a_round_of_one_webhook_reads_no_configuration_once_cached(
    world: WhatsAppWorld,
) -> None:
    """Claim, contacts and stored wamids, and the writes: nothing read per round that rarely
    changes (sender, holding team, keywords); bounded so that a per-round query coming
    back fails this test. Every statement is found in SQLAlchemy's compiled cache."""
    _, sender = await _tenant_with_sender(world)
    await _customer_writes(world, sender["phone_number_id"], "hi")  # fills the caches
    compiled: list[Any] = []

    def cache_hit(
        _conn: Any, _cursor: Any, _sql: Any, _params: Any, context: Any, _many: Any
    ) -> None:
        if context.compiled is not None:  # not SQLite's BEGIN IMMEDIATE (driver SQL)
            compiled.append(context.cache_hit)

    engine = world.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", cache_hit)
    try:
        _, statements = await _customer_writes(world, sender["phone_number_id"], "hi")
    finally:
        event.remove(engine, "before_cursor_execute", cache_hit)
    # (the outbox's statement bumps the tenant's event_seq: not a configuration read)
    read = [s for s in statements if any(f" {table} " in f"{s} " for table in _CONFIGURATION)
            and "UPDATE tenants SET event_seq" not in s]  # fmt: skip
    assert read == []
    assert len(statements) <= 7, statements
    assert compiled and set(compiled) == {CacheStats.CACHE_HIT}, compiled


async def test_holding_team_allocated_by_another_process_routes_the_next_round(
    world: WhatsAppWorld,
) -> None:
    ctx, sender = await _tenant_with_sender(world)
    before, _ = await _customer_writes(world, sender["phone_number_id"], "hi")
    assert (await _contact(world, ctx, before)).assigned_team_id is None
    async with _another_process(world) as session:
        team = Team(tenant_id=ctx.id, name="Front desk", assignment_strategy="manual")
        session.add(team)
        await session.flush()
        session.add(SenderAllocation(tenant_id=ctx.id, sender_id=uuid.UUID(sender["id"]),
                                     team_id=team.id, kind="primary", position=0))  # fmt: skip
    after, _ = await _customer_writes(world, sender["phone_number_id"], "hi")
    assert (await _contact(world, ctx, after)).assigned_team_id == team.id


async def test_keywords_changed_by_another_process_apply_to_the_next_round(
    world: WhatsAppWorld,
) -> None:
    ctx, sender = await _tenant_with_sender(world)
    first, _ = await _customer_writes(world, sender["phone_number_id"], "halt")
    assert (await _contact(world, ctx, first)).consent_state != "opted_out"  # not a keyword
    async with _another_process(world) as session:
        await update_policy(session, ctx.id, {"opt_out_keywords": ["HALT"]})
    second, _ = await _customer_writes(world, sender["phone_number_id"], "halt")
    assert (await _contact(world, ctx, second)).consent_state == "opted_out"


async def test_number_moved_by_another_process_is_followed_by_the_next_round(
    world: WhatsAppWorld,
) -> None:
    """The sender's phone_number_id changes: webhooks to the old id are ignored at once,
    those to the new one stored."""
    _, sender = await _tenant_with_sender(world)
    old, new = sender["phone_number_id"], f"pn-{uuid.uuid4().hex[:12]}"
    await _customer_writes(world, old, "hi")  # the old id cached
    async with _another_process(world) as session:
        moved = update(Sender).where(Sender.id == uuid.UUID(sender["id"]))
        await session.execute(moved.values(phone_number_id=new))
    (to_old, w_old), (to_new, w_new) = _customer(), _customer()
    bodies = [_text_webhook(old, to_old, w_old, "hi"), _text_webhook(new, to_new, w_new, "hi")]
    await _statements_of_one_round(world, bodies)
    async with world.app.state.sessionmaker() as session:
        stored = set(await session.scalars(select(Message.wamid).where(
            Message.wamid.in_([w_old, w_new]))))  # fmt: skip
    assert stored == {w_new}


async def _epoch(world: WhatsAppWorld) -> int:
    async with world.app.state.sessionmaker() as session:
        return int(await session.scalar(select(ConfigEpoch.value)) or 0)


async def test_config_epoch_moves_only_when_a_watched_column_changes(
    world: WhatsAppWorld,
) -> None:
    """Senders are updated often (health, outbound): those updates leave the epoch (and
    every processor's cache) alone."""
    _, sender = await _tenant_with_sender(world)
    this = update(Sender).where(Sender.id == uuid.UUID(sender["id"]))
    start = await _epoch(world)
    async with _another_process(world) as session:
        await session.execute(this.values(quality_rating="RED", messaging_limit_tier="TIER_1K"))
        await session.execute(this.values(phone_number_id=sender["phone_number_id"]))  # same
    assert await _epoch(world) == start
    async with _another_process(world) as session:
        await session.execute(this.values(phone_number_id=f"pn-{uuid.uuid4().hex[:12]}"))
    assert await _epoch(world) == start + 1


def test_config_cache_serves_one_epoch_and_nothing_without_one() -> None:
    """Kept while the epoch stays, dropped when it moves; a database without the counter's
    row (built by ``create_all``, no triggers) gets per-transaction caches only."""
    cache = ConfigCache()

    def round_at(epoch: int | None) -> dict[Any, Any]:
        session = AsyncSession()
        cache.attach(session, epoch)
        return config_cache(session, "numbers")

    round_at(7)["pn-1"] = "sender"
    assert round_at(7) == {"pn-1": "sender"}
    assert round_at(8) == {}
    round_at(8)["pn-1"] = "moved"
    assert round_at(None) == {}
    assert round_at(8) == {}
