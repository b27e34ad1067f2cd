"""What failover costs a template send: ``runtime.outbound.submit`` from a healthy sender,
and from a RED one whose send moves to the agent's next healthy number (allocation rule,
that number's conversation, a ``sender_switches`` row and an event), side by side on
SQLite and PostgreSQL. Each send is one transaction, rolled back (the state stays the same).

    python bench/sender_health.py --sends 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_settings, database, machine, percentile, table  # noqa: E402
from runtime.clock import SystemClock, utc_now  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain.outbound import TemplateOut  # noqa: E402
from runtime.domain.security import encrypt_secret  # noqa: E402
from runtime.domain.senders import set_allocation  # noqa: E402
from runtime.domain.tenants import create_admin, create_tenant  # noqa: E402
from runtime.models import Contact, Conversation, Sender, Template  # noqa: E402
from runtime.outbound import submit  # noqa: E402
from runtime.settings import Settings  # noqa: E402

WABA = "7007"


async def _seed(settings: Settings) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """An agent with a RED primary and a healthy secondary, a contact with a (closed
    window) conversation on each; returns the agent and the conversation per case."""
    engine = make_engine(settings.database_url)
    key = settings.encryption_key.get_secret_value()
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await create_tenant(session, "bench", "Bench", "ID")
            agent = await create_admin(session, tenant, "a@bench.example", "A", "bench password")
            session.add(
                Template(
                    tenant_id=tenant.id,
                    waba_id=WABA,
                    name="welcome",
                    language="en_US",
                    status="APPROVED",
                    category="UTILITY",
                    components=[{"type": "BODY", "text": "Welcome!"}],
                )
            )
            senders = {
                quality: Sender(
                    id=uuid.uuid4(),
                    tenant_id=tenant.id,
                    phone_number_id=f"70070000{n}",
                    display_number=f"+1555700000{n}",
                    waba_id=WABA,
                    access_token_encrypted=encrypt_secret("bench-token-xxxxxxxx", key),
                    quality_rating=quality,
                )
                for n, quality in enumerate(("RED", "GREEN"))
            }
            contact = Contact(id=uuid.uuid4(), tenant_id=tenant.id, phone="+6281300000001")
            session.add_all([*senders.values(), contact])
            await session.flush()
            red, green = senders["RED"].id, senders["GREEN"].id
            await set_allocation(session, tenant.id, ("agent", agent.id), red, [green])
            conversations = {
                case: Conversation(
                    id=uuid.uuid4(), tenant_id=tenant.id, sender_id=sender_id, contact_id=contact.id
                )
                for case, sender_id in (("healthy sender", green), ("RED sender: failover", red))
            }
            session.add_all(conversations.values())
            await session.commit()
            return agent.id, {case: c.id for case, c in conversations.items()}
    finally:
        await engine.dispose()


async def run(backend: str, url: str, sends: int) -> list[list[object]]:
    settings = bench_settings(url)
    agent_id, cases = await _seed(settings)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rows: list[list[object]] = []
    try:
        medians = {}
        for case, conversation_id in cases.items():
            latencies = []
            for _ in range(sends):
                async with sessions() as session:
                    t0 = time.perf_counter()
                    conversation = await session.get(Conversation, conversation_id)
                    assert conversation is not None
                    contact = await session.get(Contact, conversation.contact_id)
                    sender = await session.get(Sender, conversation.sender_id)
                    assert contact is not None and sender is not None
                    message, _ = await submit(
                        session,
                        settings,
                        conversation,
                        contact,
                        sender,
                        agent_id,
                        TemplateOut("welcome", "en_US"),
                        utc_now(SystemClock()),
                    )
                    await session.flush()
                    latencies.append(time.perf_counter() - t0)
                    moved = message.conversation_id != conversation_id
                    assert moved == case.startswith("RED"), case
                    await session.rollback()
            medians[case] = percentile(latencies, 0.5)
            rows.append(
                [
                    backend,
                    case,
                    f"{sends / sum(latencies):,.0f} sends/s",
                    f"{medians[case] * 1000:.2f}",
                    f"{percentile(latencies, 0.99) * 1000:.2f}",
                    f"{medians[case] / next(iter(medians.values())):.2f}x",
                ]
            )
        return rows
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends:
            with database(backend, Path(workdir)) as url:
                rows += asyncio.run(run(backend, url, args.sends))
    print(machine())
    print("(one template submit per transaction, flushed then rolled back; p50 vs healthy)")
    print(table(["backend", "case", "rate", "p50 ms", "p99 ms", "p50 ratio"], rows))


if __name__ == "__main__":
    main()
