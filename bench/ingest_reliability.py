"""Inbound reliability: signed webhooks through real processes while parts of the system fail.

    python bench/ingest_reliability.py [--messages 10000] [--rate 200] [--apis 2] [--ws 3]

What runs (all real, all private): a PostgreSQL and a RabbitMQ of this run's own
(``tests/private_services.py``: the shared servers are never restarted), ``--apis`` api
processes (accept + process + outbox relay), ``--ws`` ws processes (routed mode), and in this
process "Meta" and the agents' browsers:

- **Meta** POSTs ``--messages`` signed inbound-message webhooks (one message each, from
  customers whose conversations are assigned to the agents), plus ``--duplicates`` of them
  again later (identical bodies, as Meta redelivers), plus ``--statuses`` status-only webhooks
  (``delivered`` and ``read`` of seeded outbound messages, about half of them read-first),
  with ``--swapped`` of adjacent messages sent in swapped order; paced at ``--rate`` over the
  api processes. Like Meta, it retries every webhook not answered 200 (status or connection
  error) with backoff (0.25 s doubling to 4 s) until it is accepted.
- **Agents** (4 per ws process) hold websockets and behave like the web client
  (``runtime/web/static/js/realtime.js``): keep the highest ``seq`` processed, drop a frame
  whose ``seq`` is not above it, reconnect with backoff and ``cursor=<that seq>``.
- **Faults**, one after the other, each while a quarter of the webhooks is being sent: one ws
  process is SIGKILLed (restarted as itself once events went by without it), RabbitMQ is
  stopped and started (once events wait in the outbox), PostgreSQL is crashed (immediate
  shutdown) and started (once webhooks were refused).

Then it waits (with a deadline) until everything is applied, published and shown, and checks:
every message stored once, statuses applied, each message shown to its agent exactly once,
nothing lost, nothing set aside, every refused webhook accepted on a retry. Prints the counts
as tables; the exit code is 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import realtime  # noqa: E402
from bench.common import machine, table  # noqa: E402
from runtime.db.base import utcnow  # noqa: E402
from runtime.db.migrate import upgrade  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain.security import AccessClaims, issue_access_token  # noqa: E402
from runtime.models import (  # noqa: E402
    Conversation,
    DeadLetter,
    Event,
    InboundWebhook,
    IngestError,
    Message,
    Tenant,
)
from runtime.whatsapp import webhooks  # noqa: E402
from runtime.whatsapp.signature import SIGNATURE_HEADER, sign  # noqa: E402
from tests.private_services import PrivatePostgres, PrivateRabbitMQ, private_servers  # noqa: E402
from tests.support import wait_for  # noqa: E402

AGENTS_PER_WS = 4
MAX_BACKOFF = 10.0  # the web client's reconnect backoff: 0.5 s doubling, at most 10 s
FAULT_WITHIN = 120.0  # seconds a fault's condition may take (the machine may be busy)


@dataclass(frozen=True)
class Plan:
    messages: int = 10_000
    duplicates: float = 0.10  # share of the messages' webhooks sent twice
    statuses: float = 0.05  # status-only webhooks, as a share of the messages
    swapped: float = 0.05  # share of the messages sent swapped with their neighbour
    rate: float = 200.0  # webhooks/s offered
    apis: int = 2
    ws: int = 3
    settle: float = 180.0  # seconds after the last accept for everything to be shown
    seed: int = 1
    logs: str = ""  # a directory for the servers' output (default: a temporary one)


@dataclass
class Webhook:
    body: bytes
    wamid: str | None = None  # the message's, for message webhooks and their duplicates
    agent: uuid.UUID | None = None  # who must see it


@dataclass
class Traffic:
    """What Meta will send, in order, and what it should lead to."""

    webhooks: list[Webhook]
    expected: dict[str, uuid.UUID]  # message wamid → its agent
    outbound: list[str]  # wamids whose last status sent is "read"
    duplicates: int
    swapped: int
    statuses: int
    read_first: int


# --- the world and the traffic ------------------------------------------------------------


async def seed_outbound(
    sessions: realtime.Sessions, world: realtime.World, count: int
) -> list[str]:
    """``count`` outbound messages with status ``sent``, spread over the conversations."""
    wamids = [f"wamid.out.{secrets.token_hex(4)}.{i}" for i in range(count)]
    async with sessions() as session, session.begin():
        conversations = (
            await session.scalars(
                select(Conversation).where(Conversation.tenant_id == world.tenant_id)
            )
        ).all()
        for i, wamid in enumerate(wamids):
            conversation = conversations[i % len(conversations)]
            conversation.message_seq += 1
            session.add(Message(
                tenant_id=world.tenant_id, conversation_id=conversation.id,
                conversation_seq=conversation.message_seq, wamid=wamid, direction="outbound",
                type="text", body="hello", payload={}, status="sent", created_at=utcnow(),
            ))  # fmt: skip
    return wamids


def owner_of(world: realtime.World, wa_id: str) -> uuid.UUID:
    """The agent a customer's conversation is assigned to (``realtime.seed``'s layout)."""
    return world.agent_ids[world.wa_ids.index(wa_id) // realtime.CONTACTS_PER_AGENT]


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def make_traffic(plan: Plan, world: realtime.World, outbound: list[str]) -> Traffic:
    """The webhooks in sending order: messages (some neighbours swapped), duplicates later
    than their original, status pairs scattered (some read before delivered)."""
    rng = random.Random(plan.seed)
    number = webhooks.BusinessNumber(world.waba_id, world.phone_number_id, world.display)
    run, now = secrets.token_hex(3), int(time.time())
    owners = {wa_id: owner_of(world, wa_id) for wa_id in world.wa_ids}
    messages = []
    for i in range(plan.messages):
        wa_id = world.wa_ids[i % len(world.wa_ids)]
        wamid = f"wamid.rel.{run}.{i}"
        payload = webhooks.inbound_text(
            number, webhooks.Customer(wa_id, "Customer"), message_id=wamid,
            timestamp=now + i // 20, body=f"message {i}",
        )  # fmt: skip
        messages.append(Webhook(_body(payload), wamid, owners[wa_id]))
    swapped = rng.sample(range(plan.messages - 1), round(plan.messages * plan.swapped))
    for i in swapped:
        messages[i], messages[i + 1] = messages[i + 1], messages[i]
    keyed: list[tuple[float, Webhook]] = [(float(i), w) for i, w in enumerate(messages)]
    duplicated = rng.sample(range(plan.messages), round(plan.messages * plan.duplicates))
    keyed += [(i + rng.uniform(1, 200), messages[i]) for i in duplicated]
    read_first = 0
    for wamid in outbound:
        delivered, read = rng.uniform(0, plan.messages), rng.uniform(0, plan.messages)
        read_first += read < delivered
        for key, status in ((delivered, "delivered"), (read, "read")):
            payload = webhooks.status_update(
                number, message_id=wamid, recipient_id=world.wa_ids[0], status=status,
                timestamp=now,
            )  # fmt: skip
            keyed.append((key, Webhook(_body(payload))))
    keyed.sort(key=lambda kw: kw[0])
    expected = {w.wamid: w.agent for w in messages if w.wamid and w.agent}
    return Traffic([w for _, w in keyed], expected, outbound, len(duplicated), len(swapped),
                   2 * len(outbound), read_first)  # fmt: skip


# --- Meta ----------------------------------------------------------------------------------


@dataclass
class Gate:
    """Meta reached a fault's place in the traffic (``reached``) and waits until the fault is
    in effect (``opened``): the next quarter of the traffic is sent while it lasts."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Meta:
    """Posts webhooks like Meta: paced, each retried with backoff until answered 200."""

    ports: list[int]
    secret: str
    posted: int = 0  # webhooks given a first attempt
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # reason → refused attempts
    retried: int = 0  # webhooks refused at least once, then accepted
    in_retry: int = 0  # webhooks refused and not accepted yet

    async def deliver(self, http: httpx.AsyncClient, index: int, webhook: Webhook) -> None:
        headers = {SIGNATURE_HEADER: sign(webhook.body, self.secret),
                   "Content-Type": "application/json"}  # fmt: skip
        backoff, attempt = 0.25, 0
        while True:
            port = self.ports[(index + attempt) % len(self.ports)]  # a retry may go elsewhere
            try:
                url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
                response = await http.post(url, content=webhook.body, headers=headers)
                if response.status_code == 200:
                    break
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            self.refused[reason] += 1
            self.in_retry += attempt == 0
            await asyncio.sleep(backoff)
            backoff, attempt = min(4.0, backoff * 2), attempt + 1
        self.accepted += 1
        if attempt:
            self.retried += 1
            self.in_retry -= 1

    async def send(
        self, traffic: list[Webhook], rate: float, gates: dict[int, Gate], within: float
    ) -> None:
        """Send every webhook at ``rate`` (at most: a busy machine is slower); at index ``i``
        of ``gates`` wait for that gate. Returns once every webhook was accepted; gives up
        (TimeoutError) ``within`` seconds after the last first attempt."""
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as http:
            tasks = []
            start = time.monotonic()
            try:
                for i, webhook in enumerate(traffic):
                    if i in gates:
                        gates[i].reached.set()
                        await gates[i].opened.wait()
                        start = time.monotonic() - i / rate  # no burst after the pause
                    await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                    tasks.append(asyncio.create_task(self.deliver(http, i, webhook)))
                    self.posted += 1
                async with asyncio.timeout(within):
                    await asyncio.gather(*tasks)
            finally:  # given up: stop retrying before the client closes
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


# --- the agents' browsers ------------------------------------------------------------------


@dataclass
class Browser:
    """One agent's web client as ``runtime/web/static/js/realtime.js`` behaves: its cursor is
    the highest ``seq`` processed or the one ``ready`` caught it up to, a frame at or below it
    is dropped as already seen, and it reconnects (0.5 s backoff doubling to 10 s) with
    ``cursor=`` that seq."""

    agent: uuid.UUID
    pod: int  # index of the ws process it connects to
    url: str
    token: str
    cursor: int | None = None
    live: bool = False
    shown: Counter[str] = field(default_factory=Counter)  # wamid → times the inbox showed it
    frames: Counter[str] = field(default_factory=Counter)  # wamid → message.created frames
    stale: int = 0  # event frames dropped as already seen
    connects: int = 0
    last_frame: float = 0.0

    def on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "ready":
            self.live = True
            self.cursor = frame.get("cursor", self.cursor)  # caught up to there
            return
        seq = frame.get("seq")
        if seq is None:
            return
        self.last_frame = time.monotonic()
        created = frame["type"] == "message.created"
        wamid = frame["payload"]["message"]["wamid"] if created else None
        if wamid:
            self.frames[wamid] += 1
        if self.cursor is not None and seq <= self.cursor:
            self.stale += 1
            return
        self.cursor = seq
        if wamid:
            self.shown[wamid] += 1

    async def run(self) -> None:
        """Stay connected until cancelled."""
        attempts = 0
        while True:
            query = f"?token={self.token}"
            if self.cursor is not None:
                query += f"&cursor={self.cursor}"
            try:
                async with websockets.connect(self.url + query, max_size=None) as ws:
                    self.connects += 1
                    async for raw in ws:
                        self.on_frame(json.loads(raw))
                        attempts = 0 if self.live else attempts
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                pass
            self.live = False
            await asyncio.sleep(min(MAX_BACKOFF, 0.5 * 2**attempts) * random.uniform(0.8, 1.2))
            attempts += 1


# --- the run -------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    started: float = 0.0  # seconds into the run
    outage: float = 0.0  # seconds until the failed part was started again
    recovered: float = 0.0  # seconds until its condition of recovery held
    posted: int = 0  # webhooks Meta posted during the outage
    note: str = ""


class Run:
    """One run: its processes, world, agents, faults and checks."""

    def __init__(self, plan: Plan, pg: PrivatePostgres, rabbit: PrivateRabbitMQ, logs: Path):
        self.plan, self.pg, self.rabbit, self.logs = plan, pg, rabbit, logs
        self.engine = make_engine(pg.url)
        self.sessions = make_sessionmaker(self.engine)
        self.apis: list[realtime.Proc] = []
        self.pods: list[realtime.Proc] = []
        self.browsers: list[Browser] = []
        self.faults: list[Fault] = []
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def say(self, what: str) -> None:
        """Progress, on stderr."""
        print(f"{self.elapsed():7.1f} s  {what}", file=sys.stderr, flush=True)

    async def server(self, role: str, name: str, port: int = 0) -> realtime.Proc:
        return await realtime.start_server(
            role, self.pg.url, "routed", amqp=self.rabbit.url, name=name, port=port,
            log=str(self.logs / f"{name}.log"), within=FAULT_WITHIN,
        )  # fmt: skip

    async def start(self) -> tuple[realtime.World, Traffic]:
        """The servers, the world (tenant, agents, conversations, outbound messages), the
        agents' browsers (not connected yet) and the traffic."""
        await asyncio.to_thread(upgrade, self.pg.url)
        servers = [("api", f"rel-api-{i}") for i in range(self.plan.apis)]
        servers += [("ws", f"rel-ws-{i}") for i in range(self.plan.ws)]
        started = await asyncio.gather(*(self.server(role, name) for role, name in servers))
        self.apis, self.pods = started[: self.plan.apis], started[self.plan.apis :]
        world = await realtime.seed(self.sessions, AGENTS_PER_WS * self.plan.ws)
        outbound_count = max(1, round(self.plan.messages * self.plan.statuses / 2))
        outbound = await seed_outbound(self.sessions, world, outbound_count)
        for i, agent in enumerate(world.agent_ids):
            token = issue_access_token(AccessClaims(agent, world.tenant_id), realtime.JWT, 7200)
            pod = i % self.plan.ws
            url = f"ws://127.0.0.1:{self.pods[pod].port}/ws"
            self.browsers.append(Browser(agent, pod, url, token))
        return world, make_traffic(self.plan, world, outbound)

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in [*self.apis, *self.pods]))
        await self.engine.dispose()

    async def scalar(self, statement: Any) -> Any:
        async with self.sessions() as session:
            return await session.scalar(statement)

    async def event_cursor(self) -> int:
        return int(await self.scalar(select(func.max(Tenant.event_seq))) or 0)

    async def unpublished(self) -> int:
        return int(await self.scalar(select(func.count()).where(Event.published_at.is_(None))))

    async def unprocessed(self) -> int:
        query = select(func.count()).where(InboundWebhook.processed_at.is_(None))
        return int(await self.scalar(query))

    # Faults: each one is in effect when it opens its gate; it returns once recovered.

    async def kill_ws(self, meta: Meta, gate: Gate) -> Fault:
        """SIGKILL the first ws process; start it again as itself (name and port) once
        events went by without it; recovered when its agents are live again."""
        fault, pod = Fault("ws process SIGKILLed, restarted", self.elapsed()), self.pods[0]
        posted, cursor = meta.posted, await self.event_cursor()
        pod.process.kill()
        await asyncio.to_thread(pod.process.wait)
        gate.opened.set()

        async def missed() -> bool:
            return await self.event_cursor() >= cursor + 20

        await wait_for(missed, within=FAULT_WITHIN, interval=0.1)
        self.pods[0] = await self.server("ws", pod.name, pod.port)
        fault.outage, fault.posted = self.elapsed() - fault.started, meta.posted - posted
        mine = [b for b in self.browsers if b.pod == 0]

        async def reconnected() -> bool:
            return all(b.live for b in mine)

        await wait_for(reconnected, within=FAULT_WITHIN, interval=0.1)
        fault.recovered = self.elapsed() - fault.started
        fault.note = f"{len(mine)} agents reconnected with their cursor"
        return fault

    async def restart_rabbitmq(self, meta: Meta, gate: Gate) -> Fault:
        """Stop RabbitMQ; start it once events wait in the outbox; recovered when the outbox
        is empty again."""
        fault, posted = Fault("RabbitMQ stopped, started", self.elapsed()), meta.posted
        await asyncio.to_thread(self.rabbit.stop)
        gate.opened.set()
        waiting = await wait_for(self.unpublished, within=FAULT_WITHIN, interval=0.1)
        await asyncio.to_thread(self.rabbit.start)
        fault.outage, fault.posted = self.elapsed() - fault.started, meta.posted - posted

        async def published() -> bool:
            return await self.unpublished() == 0

        await wait_for(published, within=FAULT_WITHIN, interval=0.1)
        fault.recovered = self.elapsed() - fault.started
        fault.note = f"{waiting}+ events waited in the outbox"
        return fault

    async def crash_postgres(self, meta: Meta, gate: Gate) -> Fault:
        """Crash PostgreSQL (immediate shutdown); start it once webhooks were refused;
        recovered when no refused webhook is left unaccepted."""
        fault, posted = Fault("PostgreSQL crashed, started", self.elapsed()), meta.posted
        refused = sum(meta.refused.values())
        await asyncio.to_thread(self.pg.stop)
        gate.opened.set()

        async def refusing() -> bool:
            return sum(meta.refused.values()) > refused

        await wait_for(refusing, within=FAULT_WITHIN, interval=0.1)
        await asyncio.to_thread(self.pg.start)
        fault.outage, fault.posted = self.elapsed() - fault.started, meta.posted - posted

        async def accepted_again() -> bool:
            return meta.in_retry == 0

        await wait_for(accepted_again, within=FAULT_WITHIN, interval=0.1)
        fault.recovered = self.elapsed() - fault.started
        fault.note = f"{sum(meta.refused.values()) - refused} attempts refused"
        return fault

    async def inject(self, meta: Meta, gates: list[Gate]) -> None:
        """The faults one after the other, each at its gate."""
        for gate, fault in zip(gates, (self.kill_ws, self.restart_rabbitmq, self.crash_postgres),
                               strict=True):  # fmt: skip
            await gate.reached.wait()
            self.say(f"fault: {fault.__name__} (Meta posted {meta.posted:,})")
            self.faults.append(await fault(meta, gate))
            self.say(f"recovered: {self.faults[-1].name}")

    async def settled(self, traffic: Traffic) -> None:
        """Wait until everything is applied and published and every message shown to its
        agent, then for a quiet second (late duplicates would arrive in it)."""

        wanted = {b.agent: expected_of(traffic, b.agent) for b in self.browsers}

        async def everything_shown() -> bool:
            if await self.unprocessed() or await self.unpublished():
                return False
            return all(b.shown.keys() >= wanted[b.agent] for b in self.browsers)

        with contextlib.suppress(AssertionError):  # what is missing then is reported as lost
            await wait_for(everything_shown, within=self.plan.settle, interval=0.1)

        async def quiet() -> bool:
            return all(time.monotonic() - b.last_frame > 1.0 for b in self.browsers)

        with contextlib.suppress(AssertionError):
            await wait_for(quiet, within=30, interval=0.1)


def expected_of(traffic: Traffic, agent: uuid.UUID) -> set[str]:
    return {wamid for wamid, owner in traffic.expected.items() if owner == agent}


# --- checks and the report -----------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    value: object
    expected: str = ""  # empty: a count shown for information
    ok: bool = True


def equal(name: str, value: int, expected: int) -> Check:
    return Check(name, f"{value:,}", f"{expected:,}", value == expected)


def info(name: str, value: object) -> Check:
    return Check(name, value if isinstance(value, str) else f"{value:,}")


@dataclass
class Result:
    plan: Plan
    checks: list[Check]
    faults: list[Fault]

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def tables(self) -> str:
        checks = table(["check", "value", "expected", "ok"],
                       [[c.name, c.value, c.expected, "" if not c.expected else
                         ("yes" if c.ok else "NO")] for c in self.checks])  # fmt: skip
        faults = table(
            ["fault", "at s", "outage s", "recovered after s", "webhooks posted meanwhile",
             "note"],
            [[f.name, f"{f.started:.1f}", f"{f.outage:.1f}", f"{f.recovered:.1f}", f.posted,
              f.note] for f in self.faults],
        )  # fmt: skip
        return f"{checks}\n\n{faults}"


async def stored_checks(run: Run, traffic: Traffic) -> list[Check]:
    async with run.sessions() as session:
        inbound = set(
            await session.scalars(select(Message.wamid).where(Message.direction == "inbound"))
        )
        read = await session.scalar(
            select(func.count()).where(
                Message.wamid.in_(traffic.outbound), Message.status == "read"
            )
        )
        gaps = await session.scalar(text(
            "SELECT count(*) FROM (SELECT conversation_id FROM messages GROUP BY conversation_id"
            " HAVING count(*) <> max(conversation_seq)"
            " OR count(DISTINCT conversation_seq) <> count(*)) AS gapped"
        ))  # fmt: skip
        disordered = await session.scalar(text(
            "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY tenant_id ORDER BY id)"
            " AS before FROM events) AS e WHERE seq < before"
        ))  # fmt: skip
        set_aside = await session.scalar(
            select(func.count()).where(
                InboundWebhook.processed_at.is_not(None), InboundWebhook.last_error.is_not(None)
            )
        )
        rows = await session.scalar(select(func.count()).select_from(InboundWebhook))
        errors = await session.scalar(select(func.count()).select_from(IngestError))
        dead = await session.scalar(select(func.count()).select_from(DeadLetter))
    return [
        equal("distinct messages stored", len(inbound & traffic.expected.keys()),
              len(traffic.expected)),
        equal("inbound messages stored in all", len(inbound), len(traffic.expected)),
        equal("statuses applied (outbound messages at read)", int(read or 0),
              len(traffic.outbound)),
        equal("conversations whose sequence has a gap or a repeat", int(gaps or 0), 0),
        equal("outbox events whose id order is not their cursor order", int(disordered or 0), 0),
        info("webhook rows stored (redeliveries and retries included)", int(rows or 0)),
        equal("webhook rows left unprocessed", await run.unprocessed(), 0),
        equal("webhook rows set aside", int(set_aside or 0), 0),
        equal("ingest errors recorded", int(errors or 0), 0),
        equal("outbox events dead-lettered", int(dead or 0), 0),
    ]  # fmt: skip


def delivery_checks(run: Run, traffic: Traffic) -> list[Check]:
    browser_of = {b.agent: b for b in run.browsers}
    shown = Counter(browser_of[agent].shown[wamid] for wamid, agent in traffic.expected.items())
    misdelivered = sum(
        1 for b in run.browsers for wamid in b.frames if traffic.expected.get(wamid) != b.agent
    )
    raw_duplicates = sum(n - 1 for b in run.browsers for n in b.frames.values() if n > 1)
    total = len(traffic.expected)
    return [
        equal("messages shown to their agent exactly once", shown[1], total),
        equal("lost (never shown to their agent)", shown[0], 0),
        equal("shown more than once", total - shown[0] - shown[1], 0),
        equal("message frames to another agent", misdelivered, 0),
        info("duplicate message frames received (dropped by seq)", raw_duplicates),
        info("event frames dropped by the client as already seen",
             sum(b.stale for b in run.browsers)),
        info("agent reconnections", sum(b.connects for b in run.browsers) - len(run.browsers)),
    ]  # fmt: skip


def meta_checks(traffic: Traffic, meta: Meta) -> list[Check]:
    refusals = ", ".join(f"{reason}: {n}" for reason, n in meta.refused.most_common()) or "none"
    return [
        info("webhooks sent (distinct bodies)", len(traffic.webhooks) - traffic.duplicates),
        info("  of which inbound messages", len(traffic.expected)),
        info("  of which status-only (read before delivered)",
             f"{traffic.statuses:,} ({traffic.read_first:,})"),
        info("  messages sent swapped with their neighbour", traffic.swapped),
        info("duplicates sent (same body again, later)", traffic.duplicates),
        info("POST attempts refused", refusals),
        Check("webhooks refused, then accepted on a retry", f"{meta.retried:,}", "> 0",
              meta.retried > 0),
        equal("webhooks accepted in the end", meta.accepted, len(traffic.webhooks)),
    ]  # fmt: skip


async def _run(plan: Plan, pg: PrivatePostgres, rabbit: PrivateRabbitMQ, logs: Path) -> Result:
    run = Run(plan, pg, rabbit, logs)
    tasks: list[asyncio.Task[Any]] = []
    try:
        _, traffic = await run.start()
        tasks += [asyncio.create_task(b.run()) for b in run.browsers]

        async def all_live() -> bool:
            return all(b.live for b in run.browsers)

        await wait_for(all_live, within=FAULT_WITHIN, interval=0.1)
        run.say(f"{len(run.browsers)} agents live; sending {len(traffic.webhooks):,} webhooks")
        meta = Meta([a.port for a in run.apis], realtime.APP_SECRET)
        gates = [Gate() for _ in range(3)]
        quarter = len(traffic.webhooks) // 4
        sending = asyncio.create_task(
            meta.send(
                traffic.webhooks,
                plan.rate,
                {quarter * (k + 1): g for k, g in enumerate(gates)},
                within=plan.settle,
            )  # fmt: skip
        )
        injecting = asyncio.create_task(run.inject(meta, gates))
        tasks += [sending, injecting]
        await injecting  # each fault has its deadline, and so has sending
        await sending
        run.say("every webhook accepted; waiting until every message is shown")
        await run.settled(traffic)
        run.say("settled; checking")
        checks = [
            *meta_checks(traffic, meta),
            *await stored_checks(run, traffic),
            *delivery_checks(run, traffic),
            info("wall time s", f"{run.elapsed():.1f}"),
        ]
        return Result(plan, checks, run.faults)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await run.stop()


def reliability_run(plan: Plan) -> Result:
    """The whole run on private servers, removed afterwards (also on failure); every
    server's output goes to ``plan.logs`` (kept) or a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="scrm-reliability-") as tmp:
        logs = Path(plan.logs or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        with private_servers(logs) as (pg, rabbit):
            return asyncio.run(_run(plan, pg, rabbit, logs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Plan()
    parser.add_argument("--messages", type=int, default=defaults.messages)
    parser.add_argument("--duplicates", type=float, default=defaults.duplicates)
    parser.add_argument("--statuses", type=float, default=defaults.statuses)
    parser.add_argument("--swapped", type=float, default=defaults.swapped)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="webhooks/s")
    parser.add_argument("--apis", type=int, default=defaults.apis)
    parser.add_argument("--ws", type=int, default=defaults.ws)
    parser.add_argument("--settle", type=float, default=defaults.settle)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--logs", default="", help="keep the servers' output in this directory")
    plan = Plan(**vars(parser.parse_args()))
    result = reliability_run(plan)
    print(f"inbound reliability — {machine()}\n{plan}\n")
    print(result.tables())
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
