"""Worker processes of ``bench/realtime.py``; each reads a JSON job file, writes a result file.

    python bench/realtime_load.py api <port>          # the real api app (relay included)
    python bench/realtime_load.py gen <job.json>      # signed-webhook load generator
    python bench/realtime_load.py clients <job.json>  # websocket agents
    python bench/realtime_load.py ceiling-pub <job.json>  # RabbitMQ's ceiling: the publisher
    python bench/realtime_load.py ceiling-sub <job.json>  # ... and one consumer ("a pod")

The generator and the clients are separate processes so that neither is limited by the other
(or by the orchestrator). The clients print ``ready`` once every socket got ``{"type":"ready"}``
and then record, per received event frame, the receive time; for ``message.created`` frames
also the message body, which is the webhook's tag (``<gen>-<n>``), so that the orchestrator can
join a frame to the webhook's send and accept times. Both stop on a line on stdin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

try:  # the clients' JSON decoding must stay cheap
    from orjson import loads
except ImportError:  # pragma: no cover
    from json import loads  # type: ignore[assignment]


def run_api(port: int) -> None:
    from runtime.api.app import create_app
    from runtime.settings import Settings
    from runtime.ws.server import serve

    app = create_app(Settings())  # type: ignore[call-arg]
    profile = os.environ.get("SCRM_BENCH_PROFILE")  # a path: cProfile the api process
    if not profile:
        serve(app, "127.0.0.1", port, "warning")
        return
    import cProfile

    import uvicorn
    import uvloop

    async def profiled() -> None:
        config = uvicorn.Config(app, "127.0.0.1", port, log_level="warning",
                                ws_per_message_deflate=False)  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await asyncio.sleep(5)  # start-up
        profiler = cProfile.Profile()
        profiler.enable()
        await asyncio.sleep(float(os.environ.get("SCRM_BENCH_PROFILE_SECONDS", "6")))
        profiler.disable()
        profiler.dump_stats(profile)
        await task

    uvloop.run(profiled())


# --- load generator ----------------------------------------------------------------------


class Http:
    """A minimal keep-alive HTTP/1.1 client: the generator must cost far less than the api."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._rw: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self._rw is None:
            self._rw = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._rw
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"{head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return status


async def generate(job: dict[str, Any]) -> dict[str, Any]:
    """Closed loop (``rate`` null: ``concurrency`` requests in flight) or open loop at
    ``rate`` webhooks/s, for ``seconds``. Returns tag → [sent, accepted] and the failures."""
    from runtime.whatsapp.signature import SIGNATURE_HEADER, sign
    from runtime.whatsapp.webhooks import BusinessNumber, Customer, inbound_text

    number = BusinessNumber(job["waba_id"], job["phone_number_id"], job["display"])
    customers = [Customer(wa, "bench") for wa in job["wa_ids"]]
    secret, gen, ports = job["app_secret"], job["gen"], job["ports"]
    counter = itertools.count()
    times: dict[str, list[float]] = {}
    errors: list[int] = []
    end = time.perf_counter() + job["seconds"]
    pick = itertools.cycle(customers)

    if job.get("source") == "outbox":
        return await generate_outbox(job, counter)

    async def one(http: Http) -> None:
        n = next(counter)
        tag = f"{gen}-{n}"
        body = json.dumps(
            inbound_text(number, next(pick), message_id=f"wamid.bench.{job['run']}.{tag}",
                         timestamp=int(time.time()), body=tag),
            separators=(",", ":"),
        ).encode()  # fmt: skip
        sent = time.time()
        status = await http.post("/webhooks/whatsapp", body, {SIGNATURE_HEADER: sign(body, secret)})
        if status == 200:
            times[tag] = [sent, time.time()]
        else:
            errors.append(status)

    async def closed_worker(i: int) -> None:
        http = Http(ports[i % len(ports)])
        while time.perf_counter() < end:
            await one(http)

    async def open_loop(rate: float) -> None:
        pool = [Http(ports[i % len(ports)]) for i in range(64)]
        idle = list(pool)
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        for n in itertools.count():
            due = start + n / rate
            if due >= end:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if not idle:  # every connection busy: this rate is over the capacity
                errors.append(-1)
                continue
            http = idle.pop()

            async def send(h: Http = http) -> None:
                try:
                    await one(h)
                finally:
                    idle.append(h)

            task = asyncio.create_task(send())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)

    if job.get("rate"):
        await open_loop(job["rate"])
    else:
        await asyncio.gather(*(closed_worker(i) for i in range(job["concurrency"])))
    return {"times": times, "errors": errors}


def bench_bus(job: dict[str, Any], name: str) -> Any:
    """The job's RabbitBus (``pods`` publishing reads the bindings from the management API)."""
    from runtime.bus.podmap import ManagementPodMap, vhost_of
    from runtime.bus.rabbitmq import RabbitBus

    publish = job.get("routed_publish", "cc")
    pod_map = (
        ManagementPodMap(job["management_url"], vhost_of(job["amqp_url"]))
        if publish == "pods"
        else None
    )
    return RabbitBus(
        job["amqp_url"], job["mode"], connection_name=name, routed_publish=publish,
        pod_map=pod_map,
    )  # fmt: skip


async def generate_outbox(job: dict[str, Any], counter: Iterator[int]) -> dict[str, Any]:
    """The realtime pipeline alone: events committed straight into the outbox (``per_tx``
    per transaction, like a busy api), published by this process's own outbox relay."""
    import uuid

    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.domain.events import record_event
    from runtime.domain.visibility import INBOX_ALL, inbox_agent_key
    from runtime.relay import OutboxRelay

    engine = make_engine(job["db_url"])
    sessions = make_sessionmaker(engine)
    bus = bench_bus(job, f"bench-gen-{job['gen']}")
    await bus.start()
    if bus.pod_map is not None:  # as a relay running for a while would have it
        await bus.pod_map.refresh(job["slug"])
    tenant_id, agents, per_tx = uuid.UUID(job["tenant_id"]), job["agents"], job["per_tx"]
    times: dict[str, list[float]] = {}
    end = time.perf_counter() + job["seconds"]
    pad = "x" * 300

    async def commit(count: int) -> None:
        sent = time.time()
        tags = []
        async with sessions() as session, session.begin():
            for _ in range(count):
                n = next(counter)
                tag = f"{job['gen']}-{n}"
                payload = {"conversation_id": "c", "message": {"body": tag, "pad": pad}}
                audience = [INBOX_ALL, inbox_agent_key(uuid.UUID(agents[n % len(agents)]))]
                await record_event(session, tenant_id, "message.created", payload, audience)
                tags.append(tag)
        accepted = time.time()
        for tag in tags:
            times[tag] = [sent, accepted]

    try:
        async with OutboxRelay(sessions, bus).running():
            if job.get("rate"):  # open loop, one event per transaction
                start = time.perf_counter()
                for n in itertools.count():
                    due = start + n / job["rate"]
                    if due >= end:
                        break
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    await commit(1)
            else:
                while time.perf_counter() < end:
                    await commit(per_tx)
            await asyncio.sleep(1.0)  # let the relay finish
    finally:
        await bus.close()
        await engine.dispose()
    return {"times": times, "errors": []}


# --- websocket clients ------------------------------------------------------------------


async def clients(job: dict[str, Any]) -> dict[str, Any]:
    import websockets

    received: list[float] = []
    tags: dict[str, float] = {}

    async def listen(ws: Any) -> None:
        async for raw in ws:
            now = time.time()
            frame = loads(raw)
            if "seq" not in frame:
                continue
            received.append(now)
            if frame["type"] == "message.created":
                tags[frame["payload"]["message"]["body"]] = now

    async def connect(url: str) -> Any:
        ws = await websockets.connect(url, compression=None, max_size=None, ping_interval=None)
        while loads(await ws.recv()).get("type") != "ready":
            pass
        return ws

    sockets = []
    for i in range(0, len(job["urls"]), 50):
        sockets += await asyncio.gather(*(connect(u) for u in job["urls"][i : i + 50]))
    tasks = [asyncio.create_task(listen(ws)) for ws in sockets]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"received": received, "tags": tags}


# --- RabbitMQ's own ceiling -------------------------------------------------------------

CEILING_IN_FLIGHT = 4  # publishes awaiting their confirms at once (our relays: 1 each, 2 of them)


def ceiling_event(seq: int, agent: str, sent: float) -> Any:
    """A ``message.created`` event shaped like ``generate_outbox``'s (same frame size and
    audience), carrying its publish time."""
    import uuid

    from runtime.bus.base import BusEvent
    from runtime.domain.visibility import INBOX_ALL, inbox_agent_key

    payload = {"conversation_id": "c", "message": {"body": f"c-{seq}", "pad": "x" * 300},
               "sent": sent}  # fmt: skip
    return BusEvent(seq, "message.created", payload, (INBOX_ALL, inbox_agent_key(uuid.UUID(agent))))


async def ceiling_publisher(job: dict[str, Any]) -> dict[str, Any]:
    """One publisher with confirms: ``RabbitBus.publish`` of rounds of ``round`` events (the
    relay's call, so the same messages: fanout chunks, or one per audience plus the end
    marker), events for the agents in turn, ``CEILING_IN_FLIGHT`` rounds at a time."""
    bus = bench_bus(job, "bench-ceiling-pub")
    await bus.start()
    agents, size, seqs = job["agents"], job["round"], itertools.count(1)
    end = time.perf_counter() + job["seconds"]
    published = 0

    async def publisher() -> None:
        nonlocal published
        while time.perf_counter() < end:
            now = time.time()
            events = [ceiling_event(seq, agents[seq % len(agents)], now)
                      for seq in itertools.islice(seqs, size)]  # fmt: skip
            await bus.publish(job["slug"], events)
            published += len(events)

    t0 = time.time()
    try:
        await asyncio.gather(*(publisher() for _ in range(CEILING_IN_FLIGHT)))
    finally:
        await bus.close()
    return {"published": published, "t0": t0, "t1": time.time()}


async def ceiling_consumer(job: dict[str, Any]) -> dict[str, Any]:
    """One queue bound like a pod holding ``agents`` (``RabbitBus.subscribe``); counts the
    events for its agents and samples the publish → receipt latency once per batch."""
    import uuid

    from runtime.bus.codec import Batch
    from runtime.domain.visibility import inbox_agent_key

    bus = bench_bus(job, f"bench-{job['pod']}")
    await bus.start()
    keys = {inbox_agent_key(uuid.UUID(a)) for a in job["agents"]}
    got = {"events": 0, "mine": 0, "last": 0.0}
    latencies: list[float] = []

    def handler(_tenant: str, batch: Batch) -> None:
        got["events"] += len(batch)
        mine = [i for i, (_, audience) in enumerate(batch.entries) if keys.intersection(audience)]
        if mine:
            now = time.time()
            got["mine"] += len(mine)
            got["last"] = now
            latencies.append(now - loads(batch.frame(mine[0]))["payload"]["sent"])

    subscription = await bus.subscribe(job["slug"], job["pod"], handler)
    await subscription.bind(keys)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:  # drained: nothing new for a second
        before = got["events"]
        await asyncio.sleep(1.0)
        if got["events"] == before:
            break
    await subscription.close()
    await bus.close()
    return {**got, "latencies": latencies}


def main() -> None:
    kind, arg = sys.argv[1], sys.argv[2]
    if kind == "api":
        run_api(int(arg))
        return
    import uvloop

    with open(arg) as f:
        job = json.load(f)
    if kind in ("gen", "ceiling-pub"):
        print("ready", flush=True)
        sys.stdin.readline()  # go
        result = uvloop.run(generate(job) if kind == "gen" else ceiling_publisher(job))
    elif kind == "ceiling-sub":
        result = uvloop.run(ceiling_consumer(job))
    else:
        result = uvloop.run(clients(job))
    with open(job["out"], "w") as f:
        json.dump(result, f)
    print("done", flush=True)


if __name__ == "__main__":
    main()
