"""Inbound webhooks: acknowledged only once stored, stored in shared commits, applied in
batches where one poison webhook is set aside, by any number of processors in order."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import fields
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.clock import utc_now
from runtime.db.notify import EVENTS_WRITTEN, INBOUND_STORED, Listener, origin
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.events import record_event
from runtime.domain.inbox import NewConversation
from runtime.ingest import processor as processor_module
from runtime.ingest.accept import GroupCommitWriter
from runtime.ingest.processor import InboundProcessor
from runtime.models import Conversation, Event, InboundWebhook, Message
from runtime.whatsapp import webhooks
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
from tests.api.whatsapp_world import WhatsAppWorld
from tests.support import wait_for


def _text_webhook(phone_number_id: str, wa_id: str, wamid: str, text: str) -> bytes:
    message = {"from": wa_id, "id": wamid, "timestamp": "1700000000", "type": "text",
               "text": {"body": text}}  # fmt: skip
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Budi"}, "wa_id": wa_id}],
        "messages": [message],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


async def _post(world: WhatsAppWorld, body: bytes) -> Any:
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    response = await world.client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": True}
    return response


def _pause_processing(world: WhatsAppWorld) -> None:
    """Group commits no longer wake the processor: stored rows stay unprocessed."""
    world.app.state.ingest.writer.on_commit = lambda: None


async def _sender(world: WhatsAppWorld) -> dict[str, Any]:
    ctx = await world.new_tenant()
    agent, _ = await world.new_agent(ctx)
    return await world.add_sender(ctx, [agent["id"]])


async def test_webhook_acknowledged_only_after_durable(world: WhatsAppWorld) -> None:
    """At the moment the 200 starts, another connection already sees the stored body."""
    _pause_processing(world)
    sender = await _sender(world)
    body = _text_webhook(sender["phone_number_id"], "6281234567001", "wamid.durable", "hi")
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    other = create_async_engine(world.settings.database_url)
    seen_at_answer: list[Any] = []
    answers: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answers.append(message["status"])
            async with other.connect() as connection:
                stored = select(InboundWebhook.body, InboundWebhook.processed_at)
                where = stored.where(InboundWebhook.body == body)
                seen_at_answer.extend((await connection.execute(where)).all())

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/webhooks/whatsapp", "raw_path": b"/webhooks/whatsapp",
        "root_path": "", "query_string": b"", "server": ("api", 80), "client": ("meta", 1),
        "headers": [(SIGNATURE_HEADER.lower().encode(), sign(body, secret).encode()),
                    (b"content-type", b"application/json")],
    }  # fmt: skip
    try:
        await world.app(scope, receive, send)
    finally:
        await other.dispose()
    assert answers == [200]
    assert seen_at_answer == [(body, None)]


# PostgreSQL only: the writer's own connection (SQLite's writer uses the engine's pool).
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_writer_reopens_its_connection_after_the_server_drops_it(
    world: WhatsAppWorld,
) -> None:
    """The server ends the writer's connection (``pg_terminate_backend``, as a restart
    would): the next webhook is stored on a new connection, or refused with a 503 and stored
    by Meta's retry; every webhook answered 200 is in the table."""
    _pause_processing(world)
    sender = await _sender(world)
    writer = world.app.state.ingest.writer
    secret = world.settings.whatsapp_app_secret.get_secret_value()
    bodies = [
        _text_webhook(sender["phone_number_id"], "6281234567004", f"wamid.reopen-{i}", str(i))
        for i in range(3)
    ]

    async def post(body: bytes) -> int:
        headers = {SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"}
        response = await world.client.post("/webhooks/whatsapp", content=body, headers=headers)
        return response.status_code

    assert await post(bodies[0]) == 200
    first_pid = writer.backend_pid
    assert first_pid is not None
    async with world.app.state.engine.connect() as connection:
        killed = select(func.pg_terminate_backend(first_pid))
        assert (await connection.execute(killed)).scalar_one() is True
    answers = [await post(bodies[1])]
    if answers[0] == 503:  # the kill was seen on use: Meta retries
        answers.append(await post(bodies[1]))
    assert answers in ([200], [503, 200])
    assert await post(bodies[2]) == 200
    assert writer.backend_pid not in (None, first_pid)
    async with world.app.state.sessionmaker() as session:
        stored = (await session.scalars(select(InboundWebhook.body))).all()
    assert set(bodies) <= set(stored)


async def test_group_commit_shares_one_commit(world: WhatsAppWorld) -> None:
    _pause_processing(world)
    sender = await _sender(world)
    writer = world.app.state.ingest.writer
    bodies = [
        _text_webhook(sender["phone_number_id"], "6281234567002", f"wamid.group-{i}", str(i))
        for i in range(20)
    ]
    commits_before = writer.commits
    await asyncio.gather(*(_post(world, body) for body in bodies))
    assert writer.commits - commits_before < len(bodies) // 4
    async with world.app.state.sessionmaker() as session:
        stored = (await session.scalars(select(InboundWebhook.body))).all()
    assert set(bodies) <= set(stored)


async def test_writer_lingers_only_under_load(world: WhatsAppWorld) -> None:
    """A body after a quiet spell is written at once (nobody would join it); after a group of
    several, the next first body lingers for its neighbours. The linger here (3 s) is far
    longer than a write, so the two cases cannot be confused."""
    sender = await _sender(world)
    linger = 3.0
    writer = GroupCommitWriter(world.app.state.engine, linger=linger)
    bodies = [
        _text_webhook(sender["phone_number_id"], "6281234567003", f"wamid.linger-{i}", str(i))
        for i in range(5)
    ]
    now = utc_now(world.engine.state.clock)
    loop = asyncio.get_running_loop()

    async def seconds_to_store(body: bytes) -> float:
        started = loop.time()
        await writer.accept(body, now)
        return loop.time() - started

    try:
        assert await seconds_to_store(bodies[0]) < linger  # light load: no linger
        await asyncio.gather(*(writer.accept(body, now) for body in bodies[1:4]))  # one group
        assert writer.commits == 2
        assert await seconds_to_store(bodies[4]) >= linger * 0.9  # under load: lingers
    finally:
        await writer.close()
    async with world.app.state.sessionmaker() as session:
        stored = (await session.scalars(select(InboundWebhook.body))).all()
    assert set(bodies) <= set(stored)


async def test_a_client_hanging_up_does_not_fail_its_group(world: WhatsAppWorld) -> None:
    """A request cancelled while its body waits for the group commit (the client hung up)
    cancels only its own wait: its neighbours are answered and the writer keeps going."""
    sender = await _sender(world)
    writer = GroupCommitWriter(world.app.state.engine)
    bodies = [
        _text_webhook(sender["phone_number_id"], "6281234567005", f"wamid.hangup-{i}", str(i))
        for i in range(6)
    ]
    now = utc_now(world.engine.state.clock)
    try:
        waiting = [asyncio.create_task(writer.accept(body, now)) for body in bodies[:5]]
        await asyncio.sleep(0)  # every body is queued
        waiting[0].cancel()
        async with asyncio.timeout(10):  # a writer that crashed would leave them waiting
            results = await asyncio.gather(*waiting, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert results[1:] == [None] * 4
        await writer.accept(bodies[5], now)
    finally:
        await writer.close()
    async with world.app.state.sessionmaker() as session:
        stored = (await session.scalars(select(InboundWebhook.body))).all()
    assert set(bodies[1:]) <= set(stored)


async def test_processor_applies_batches_and_skips_poison(
    world: WhatsAppWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ingest = processor_module.ingest

    async def ingest_then_fail_on_poison(session: Any, payload: Any, now: Any) -> Any:
        result = await real_ingest(session, payload, now)  # writes, then fails: rolled back
        if "wamid.poison" in json.dumps(payload):
            raise RuntimeError("boom")
        return result

    monkeypatch.setattr(processor_module, "ingest", ingest_then_fail_on_poison)
    _pause_processing(world)
    sender = await _sender(world)
    for wamid in ("wamid.before", "wamid.poison", "wamid.after"):
        await _post(world, _text_webhook(sender["phone_number_id"], "6281234567003", wamid, "x"))
    await world.app.state.ingest.writer.accept(b"{not json", utc_now(world.engine.state.clock))

    world.app.state.ingest.processor.wake()
    await world.ingested()

    async with world.app.state.sessionmaker() as session:
        wamids = set((await session.scalars(select(Message.wamid))).all())
        rows = (
            await session.execute(
                select(InboundWebhook.body, InboundWebhook.attempts, InboundWebhook.last_error)
                .where(InboundWebhook.last_error.is_not(None))
                .order_by(InboundWebhook.id)
            )
        ).all()
    assert {"wamid.before", "wamid.after"} <= wamids
    assert "wamid.poison" not in wamids
    errors = [(attempts, error.split(":")[0]) for body, attempts, error in rows
              if b"wamid.poison" in body or body == b"{not json"]  # fmt: skip
    assert errors == [(3, "RuntimeError"), (3, "JSONDecodeError")]


# PostgreSQL only: several processors need a server database (SQLite has one writer).
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_processors_no_double_work_and_order_kept(world: WhatsAppWorld) -> None:
    _pause_processing(world)
    sender = await _sender(world)
    customers = [f"62812345671{i:02d}" for i in range(3)]
    delivered = {c: [f"wamid.{c}-{n:03d}" for n in range(40)] for c in customers}
    received = utc_now(world.engine.state.clock)
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            insert(InboundWebhook),
            [
                {
                    "received_at": received,
                    "body": _text_webhook(sender["phone_number_id"], c, wamid, wamid),
                    "attempts": 0,
                }
                for n in range(40)
                for c in customers
                for wamid in [delivered[c][n]]
            ],
        )
    engines = [make_engine(world.settings.database_url) for _ in range(2)]
    processors = [InboundProcessor(make_sessionmaker(e), batch_size=7) for e in engines]
    try:
        for processor in processors:
            processor.wake()
        await wait_for(lambda: _none_pending(processors[0]), within=30)
    finally:
        for processor, engine in zip(processors, engines, strict=True):
            await processor.close()
            await engine.dispose()

    async with world.app.state.sessionmaker() as session:
        stored = (
            await session.scalars(select(Message.wamid).where(Message.wamid.like("wamid.62%")))
        ).all()
        payloads = (
            await session.scalars(
                select(Event.payload).where(Event.type == "message.created").order_by(Event.seq)
            )
        ).all()
    assert sorted(stored) == sorted(w for wamids in delivered.values() for w in wamids)
    applied = [p["message"]["wamid"] for p in payloads if p["message"]["wamid"] in stored]
    for customer, wamids in delivered.items():
        assert [w for w in applied if w.startswith(f"wamid.{customer}")] == wamids


# PostgreSQL only: notifications (SQLite has one process, woken in process).
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_processors_of_two_processes_are_woken_by_notification(
    world: WhatsAppWorld,
) -> None:
    """Two "processes" (engine, writer, processor, listener each) whose writers do not wake
    their processors in process: every webhook is applied all the same, woken by NOTIFY
    alone, and a processor that finds the lease taken leaves the rows to the holder instead
    of retrying (its retry delay is longer than the test's deadline)."""
    _pause_processing(world)
    sender = await _sender(world)
    url = world.settings.database_url
    engines = [make_engine(url) for _ in range(2)]
    listeners: list[Listener] = []
    processors = [
        InboundProcessor(
            make_sessionmaker(e),
            batch_size=5,
            busy_delay=60,
            holder_notified=lambda i=i: listeners[i].listening,
        )
        for i, e in enumerate(engines)
    ]
    listeners += [Listener(url, {INBOUND_STORED: p.wake}) for p in processors]
    writers = [GroupCommitWriter(e, linger=0.001) for e in engines]
    bodies = [
        _text_webhook(sender["phone_number_id"], f"628123456{i:04d}", f"wamid.nf-{i}", "hi")
        for i in range(40)
    ]
    try:
        async with listeners[0].running(), listeners[1].running():
            await wait_for(lambda: _true(all(li.listening for li in listeners)), within=10)
            now = utc_now(world.engine.state.clock)
            await asyncio.gather(
                *(writers[i % 2].accept(body, now) for i, body in enumerate(bodies))
            )
            await wait_for(lambda: _none_pending(processors[0]), within=20)
            await wait_for(lambda: _true(all(_idle(p) for p in processors)), within=10)
    finally:
        for processor, writer, engine in zip(processors, writers, engines, strict=True):
            await processor.close()
            await writer.close()
            await engine.dispose()
    async with world.app.state.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).where(Message.wamid.like("wamid.nf-%")))
    assert stored == len(bodies)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_committed_events_notify_relays(world: WhatsAppWorld) -> None:
    ctx = await world.new_tenant()
    woken: list[str] = []
    listener = Listener(world.settings.database_url, {EVENTS_WRITTEN: lambda: woken.append("w")})
    async with listener.running():
        await wait_for(lambda: _true(woken == ["w"]), within=10)  # once on connecting
        async with world.app.state.sessionmaker() as session, session.begin():
            await record_event(session, ctx.id, "test.ping", {}, ["inbox.all"])
        await wait_for(lambda: _true(woken == ["w", "w"]), within=10)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_listener_ignores_its_own_process_notifications(world: WhatsAppWorld) -> None:
    """A process's own commits woke its workers in process; its listener hears only the
    other processes' (here: another engine)."""
    ctx = await world.new_tenant()
    own = world.app.state.engine
    other = make_engine(world.settings.database_url)
    woken: list[str] = []
    listener = Listener(
        world.settings.database_url,
        {EVENTS_WRITTEN: lambda: woken.append("w")},
        own_origin=origin(own),
    )
    try:
        async with listener.running():
            await wait_for(lambda: _true(woken == ["w"]), within=10)  # once on connecting
            for engine in (own, other):  # notifications arrive in commit order
                async with make_sessionmaker(engine)() as session, session.begin():
                    await record_event(session, ctx.id, "test.ping", {}, ["inbox.all"])
            await wait_for(lambda: _true(len(woken) >= 2), within=10)
    finally:
        await other.dispose()
    assert woken == ["w", "w"]  # the other engine's commit only


async def _true(value: bool) -> bool:
    return value


def _idle(processor: InboundProcessor) -> bool:
    """No drain running (none sleeping before another try for the lease)."""
    return processor._task is None or processor._task.done()


async def _none_pending(processor: InboundProcessor) -> bool:
    return await processor.pending() == 0


async def _statements_of_one_round(world: WhatsAppWorld, bodies: list[bytes]) -> list[str]:
    """Store ``bodies``, apply them in one round, and return the SQL it ran."""
    received = utc_now(world.engine.state.clock)
    async with world.app.state.sessionmaker() as session, session.begin():
        rows = [{"received_at": received, "body": body, "attempts": 0} for body in bodies]
        await session.execute(insert(InboundWebhook), rows)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = world.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        done = await world.app.state.ingest.processor.process_pending()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert done.claimed == len(bodies) and done.retrying == 0
    if world.settings.database_url.startswith("sqlite"):  # events' ids come back one by one
        return [s for s in statements if not s.startswith("INSERT INTO events")]
    return statements


async def _seqs(world: WhatsAppWorld) -> dict[str, tuple[int, str]]:
    async with world.app.state.sessionmaker() as session:
        stored = await session.execute(
            select(Message.wamid, Message.conversation_seq, Message.body).where(
                Message.wamid.like("wamid.set-%")
            )
        )
    return {wamid: (seq, body) for wamid, seq, body in stored}


async def test_round_applies_inbound_messages_set_wise(world: WhatsAppWorld) -> None:
    """A round of 40 webhooks (new customers, one customer writing twice, a redelivery)
    costs a bounded number of statements (one INSERT each for contacts, conversations and
    messages; on PostgreSQL, conversations and messages in one statement, and the events in
    another), not a dozen per webhook, and stores the same rows as one-by-one application
    would."""
    _pause_processing(world)
    sender = await _sender(world)
    number = sender["phone_number_id"]
    bodies = [_text_webhook(number, f"628123456{i:04d}", f"wamid.set-{i}", "hi") for i in range(38)]
    bodies += [
        _text_webhook(number, "6281234560000", "wamid.set-again", "again"),  # same customer
        _text_webhook(number, "6281234560001", "wamid.set-1", "redelivered"),  # same wamid
    ]
    statements = await _statements_of_one_round(world, bodies)
    assert len(statements) <= 15, statements
    for table in ("contacts", "conversations", "messages"):  # one INSERT each, every row
        assert sum(f"INSERT INTO {table} " in s for s in statements) == 1, table
    if not world.settings.database_url.startswith("sqlite"):  # conversations with messages
        assert sum("INSERT INTO" in s for s in statements) == 3, statements  # + events
    by_wamid = await _seqs(world)
    assert len(by_wamid) == 39
    assert by_wamid["wamid.set-1"] == (1, "hi")
    assert by_wamid["wamid.set-0"] == (1, "hi") and by_wamid["wamid.set-again"] == (2, "again")


def test_a_rounds_new_conversation_is_a_whole_conversations_row() -> None:
    """A round inserts its new conversations from plain rows (no ORM object): every column
    of the table is set, so none is left to a default the INSERT would not apply."""
    columns = {column.key for column in Conversation.__mapper__.column_attrs}
    assert {field.name for field in fields(NewConversation)} == columns


async def test_round_numbers_returning_customers_set_wise(world: WhatsAppWorld) -> None:
    """Customers with a conversation write again: their conversations are read locked once
    per round and numbered in memory, not one UPDATE … RETURNING and flush per message."""
    _pause_processing(world)
    sender = await _sender(world)
    number = sender["phone_number_id"]
    customers = [f"628123457{i:04d}" for i in range(20)]
    first = [_text_webhook(number, c, f"wamid.set-{c}-1", "1") for c in customers]
    await _statements_of_one_round(world, first)
    again = [_text_webhook(number, c, f"wamid.set-{c}-{n}", str(n)) for n in (2, 3)
             for c in customers]  # fmt: skip
    statements = await _statements_of_one_round(world, again)
    assert len(statements) <= 15, statements
    inserts = [s.split()[2] for s in statements if s.startswith("INSERT INTO")]
    assert inserts.count("messages") == 1 and "contacts" not in inserts, inserts
    assert "conversations" not in inserts, inserts
    by_wamid = await _seqs(world)
    assert [by_wamid[f"wamid.set-{customers[7]}-{n}"] for n in (1, 2, 3)] == [
        (1, "1"),
        (2, "2"),
        (3, "3"),
    ]


async def test_statuses_of_one_round_read_their_messages_at_once_and_only_advance(
    world: WhatsAppWorld,
) -> None:
    """Statuses for several messages, out of order and some by callback id only, applied in
    one round: one SELECT of messages for all of them, each message ends at its furthest
    status, and only advances are announced."""
    world.engine.config = world.engine.config.__class__(
        **{**world.engine.config.__dict__, "auto_statuses": ()}
    )
    ctx = await world.new_tenant()
    agent, _ = await world.new_agent(ctx)
    sender = await world.add_sender(ctx, [agent["id"]])
    await world.customer_says(sender, "6281234567301", "hi")
    [conversation] = await wait_for(
        lambda: _listed(world, ctx.headers, "/api/conversations"), within=10
    )
    sent = [
        (
            await world.client.post(
                f"/api/conversations/{conversation['id']}/messages",
                headers=ctx.headers,
                json={"type": "text", "text": f"reply {n}"},
            )
        ).json()
        for n in range(3)
    ]
    number = webhooks.BusinessNumber(
        sender["waba_id"], sender["phone_number_id"], sender["display_number"]
    )
    await world.sent()  # queued sends: Meta gives them their wamids
    await world.ingested()
    path = f"/api/conversations/{conversation['id']}/messages"
    wamids = {m["id"]: m["wamid"] for m in await _listed(world, ctx.headers, path)}
    sent = [{**message, "wamid": wamids[message["id"]]} for message in sent]
    assert all(message["wamid"] for message in sent)
    _pause_processing(world)
    order = ["read", "sent", "delivered"]
    for message in sent:
        for n, status in enumerate(order):
            by_callback_only = n == 0
            await _post(world, json.dumps(webhooks.status_update(
                number, message_id="wamid.unknown" if by_callback_only else message["wamid"],
                recipient_id="6281234567301", status=status, timestamp=1_700_000_100 + n,
                biz_opaque_callback_data=message["id"],
            )).encode())  # fmt: skip
    selects: list[str] = []

    def count_message_selects(*args: Any) -> None:
        statement = str(args[2])
        if statement.lstrip().upper().startswith("SELECT") and "FROM messages" in statement:
            selects.append(statement)

    async with world.app.state.sessionmaker() as session:
        before = await session.scalar(select(func.max(Event.id)))
    engine = world.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count_message_selects)
    try:
        done = await world.app.state.ingest.processor.process_pending()
    finally:
        event.remove(engine, "before_cursor_execute", count_message_selects)
    assert done.claimed == len(sent) * len(order)
    assert len(selects) == 1
    async with world.app.state.sessionmaker() as session:
        stored = dict((await session.execute(select(Message.id, Message.status).where(
            Message.id.in_([uuid.UUID(m["id"]) for m in sent])))).all())  # fmt: skip
        announced = (
            await session.scalars(
                select(Event.payload).where(Event.type == "message.status", Event.id > before)
            )
        ).all()
    assert set(stored.values()) == {"read"}
    read_events = [p for p in announced if p["message"]["id"] in {m["id"] for m in sent}]
    assert sorted(p["message"]["status"] for p in read_events) == ["read"] * len(sent)


async def _listed(world: WhatsAppWorld, headers: dict[str, str], path: str) -> list[Any]:
    return list((await world.client.get(path, headers=headers)).json()["items"])
