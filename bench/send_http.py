"""The send worker's HTTP cost: CPU per template send through ``CloudAPIClient`` with httpx's
default transport (httpcore), with ``KeepAliveTransport``, and with the worker's client
(``graph_http``: that transport, no cookie jar), side by side in one run,
against the simulator (a subprocess on a loopback port). Sends go ``--concurrency`` at a
time, as the worker's sends overlap. CPU is this process's own (user + system), so the
simulator's and the rest of the machine's work is not counted; rounds alternate between the
two transports so that load from elsewhere falls on both alike."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench.common import machine, table  # noqa: E402
from runtime.whatsapp.client import CloudAPIClient  # noqa: E402
from runtime.whatsapp.transport import KeepAliveTransport, graph_http  # noqa: E402
from tests.api.outbound_stack import (  # noqa: E402
    TEMPLATE,
    TOKEN,
    Simulator,
    free_port,
    healthy,
    start_simulator,
)

NUMBER = "106540352909999"


async def send_round(client: CloudAPIClient, sends: int, concurrency: int, offset: int) -> float:
    """CPU seconds this process spent sending ``sends`` templates."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await client.send_template(
                NUMBER, TOKEN, f"62813{offset + n:08d}", TEMPLATE, "en_US", once=True
            )

    began = time.process_time()
    await asyncio.gather(*(one(n) for n in range(sends)))
    return time.process_time() - began


async def run(args: argparse.Namespace) -> list[list[object]]:
    port = free_port()
    simulator = start_simulator(port, None, "bench-app-secret")
    sim = Simulator(port)
    base = f"http://127.0.0.1:{port}"
    clients = {
        "httpx default (httpcore)": httpx.AsyncClient(timeout=30),
        "KeepAliveTransport": httpx.AsyncClient(timeout=30, transport=KeepAliveTransport()),
        "graph_http (KeepAliveTransport, no cookie jar)": graph_http(),
    }
    cpu = dict.fromkeys(clients, 0.0)
    try:
        await healthy(port, "/_sim/health")
        await sim.add_number(NUMBER, throughput=10_000)
        await sim.add_template()
        graph = {name: CloudAPIClient(base, http=http) for name, http in clients.items()}
        for client in graph.values():  # warm up: connections, imports, caches
            await send_round(client, 50, args.concurrency, 0)
        offset = 0
        for _ in range(args.rounds):
            for name, client in graph.items():
                offset += args.sends
                cpu[name] += await send_round(client, args.sends, args.concurrency, offset)
    finally:
        for http in clients.values():
            await http.aclose()
        await sim.aclose()
        simulator.terminate()
        simulator.wait(30)
    total = args.sends * args.rounds
    baseline = cpu["httpx default (httpcore)"]
    return [
        [name, f"{seconds / total * 1e3:.3f}", f"{seconds / baseline:.2f}"]
        for name, seconds in cpu.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=500, help="sends per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per transport")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows = asyncio.run(run(args))
    print(
        f"Graph template sends, {args.sends} × {args.rounds} per transport, "
        f"{args.concurrency} at a time — {machine()}\n"
    )
    print(table(["transport", "CPU ms per send (this process)", "ratio to httpx"], rows))


if __name__ == "__main__":
    main()
