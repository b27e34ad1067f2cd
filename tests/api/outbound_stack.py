"""Real processes for the send queue: the simulator and api processes as subprocesses on
loopback ports, a seeded tenant (numbers, an approved template, contacts, conversations) and
template sends queued straight through :func:`runtime.outbound.submit`. Used by
tests/api/test_outbound_processes.py and bench/outbound.py."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.clock import SystemClock, utc_now
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.outbound import TemplateOut
from runtime.domain.security import encrypt_secret
from runtime.domain.tenants import create_tenant
from runtime.models import Contact, Conversation, Message, Sender, SendQueueItem, Template
from runtime.outbound import BatchRequest, submit, submit_batch
from runtime.settings import Settings
from tests.support import free_port, healthy

WABA_ID = "2029"
TOKEN = "EAAG-outbound-token"
TEMPLATE = "order_ready"


@dataclass
class Target:
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    sender_id: uuid.UUID


def env_of(settings: Settings, graph_port: int, **extra: str) -> dict[str, str]:
    """The environment an api or worker subprocess needs for ``settings``."""
    return {
        **os.environ,
        "SCRM_DATABASE_URL": settings.database_url,
        "SCRM_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "SCRM_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
        "SCRM_WHATSAPP_APP_SECRET": settings.whatsapp_app_secret.get_secret_value(),
        "SCRM_WHATSAPP_VERIFY_TOKEN": settings.whatsapp_verify_token.get_secret_value(),
        "SCRM_GRAPH_BASE_URL": f"http://127.0.0.1:{graph_port}",
        **extra,
    }


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    code = (
        "from runtime.api.app import create_app; from runtime.settings import Settings; "
        "from runtime.ws.server import serve; "
        f"serve(create_app(Settings()), '127.0.0.1', {port}, log_level='warning')"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def start_sender_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    code = "from runtime.cli import main; main(['sender-worker'])"
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def start_simulator(port: int, webhook_url: str | None, app_secret: str) -> subprocess.Popen[bytes]:
    args = ["--port", str(port), "--app-secret", app_secret, "--no-auto-statuses"]
    if webhook_url:
        args += ["--webhook-url", webhook_url]
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.whatsapp.simulator", *args], stdout=subprocess.DEVNULL
    )


class Simulator:
    """Control of a simulator subprocess."""

    def __init__(self, port: int) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)

    async def control(self, path: str, body: dict[str, Any]) -> Any:
        response = await self.http.post(f"/_sim/{path}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def add_number(self, phone_number_id: str, throughput: float) -> None:
        await self.control(
            "phone_numbers",
            {
                "id": phone_number_id,
                "display_phone_number": f"1555{phone_number_id[-7:]}",
                "waba_id": WABA_ID,
                "access_token": TOKEN,
                "verified_name": "Outbound Shop",
                "throughput_mps": throughput,
            },
        )

    async def add_template(self) -> None:
        await self.control(
            "templates",
            {
                "waba_id": WABA_ID,
                "name": TEMPLATE,
                "language": "en_US",
                "category": "UTILITY",
                "status": "APPROVED",
                "components": [{"type": "BODY", "text": "Your order is ready."}],
            },
        )

    async def received(self) -> list[dict[str, Any]]:
        return list((await self.http.get("/_sim/messages")).json()["data"])

    async def received_count(self) -> int:
        return int((await self.http.get("/_sim/messages_count")).json()["count"])

    async def refusals(self) -> dict[str, int]:
        return dict((await self.http.get("/_sim/refusals")).json())

    async def aclose(self) -> None:
        await self.http.aclose()


async def seed(
    settings: Settings, numbers: list[str], recipients_per_number: int, throughput: int
) -> list[Target]:
    """A tenant with ``numbers`` (at ``throughput`` msg/s, unlimited daily tier), the
    approved template, and one closed-window conversation per (number, recipient)."""
    engine = make_engine(settings.database_url)
    key = settings.encryption_key.get_secret_value()
    targets: list[Target] = []
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await create_tenant(session, f"out-{uuid.uuid4().hex[:8]}", "Outbound")
            session.add(
                Template(
                    tenant_id=tenant.id,
                    waba_id=WABA_ID,
                    name=TEMPLATE,
                    language="en_US",
                    status="APPROVED",
                    category="UTILITY",
                    components=[{"type": "BODY", "text": "Your order is ready."}],
                )
            )
            for n, number in enumerate(numbers):
                sender = Sender(
                    id=uuid.uuid4(),
                    tenant_id=tenant.id,
                    phone_number_id=number,
                    display_number=f"+1555{number[-7:]}",
                    waba_id=WABA_ID,
                    access_token_encrypted=encrypt_secret(TOKEN, key),
                    throughput_mps=throughput,
                    messaging_limit_tier="TIER_UNLIMITED",
                )
                session.add(sender)
                contacts = [
                    Contact(id=uuid.uuid4(), tenant_id=tenant.id, phone=f"+62813{n:02d}{r:06d}")
                    for r in range(recipients_per_number)
                ]
                session.add_all(contacts)
                await session.flush()  # no ORM relationships: parents first
                for contact in contacts:
                    conversation = Conversation(
                        id=uuid.uuid4(),
                        tenant_id=tenant.id,
                        sender_id=sender.id,
                        contact_id=contact.id,
                    )
                    session.add(conversation)
                    targets.append(Target(conversation.id, contact.id, sender.id))
            await session.commit()
    finally:
        await engine.dispose()
    return targets


async def queue_templates(settings: Settings, targets: list[Target], per_target: int) -> list[str]:
    """Queue ``per_target`` template sends to each target (as the API would); message ids."""
    engine = make_engine(settings.database_url)
    ids: list[str] = []
    try:
        sessionmaker = make_sessionmaker(engine)
        for start in range(0, len(targets), 200):
            async with sessionmaker() as session:
                for target in targets[start : start + 200]:
                    conversation = await session.get(Conversation, target.conversation_id)
                    contact = await session.get(Contact, target.contact_id)
                    sender = await session.get(Sender, target.sender_id)
                    assert conversation and contact and sender
                    for _ in range(per_target):
                        message, _ = await submit(
                            session,
                            settings,
                            conversation,
                            contact,
                            sender,
                            uuid.uuid4(),
                            TemplateOut(TEMPLATE, "en_US"),
                            utc_now(SystemClock()),
                        )
                        ids.append(str(message.id))
                await session.commit()
    finally:
        await engine.dispose()
    return ids


async def queue_templates_batch(settings: Settings, targets: list[Target]) -> list[str]:
    """One template to each target through :func:`runtime.outbound.submit_batch` (the
    campaigns' path: the same rules, set-wise, rounds of 500); message ids. For benches that
    queue thousands (``queue_templates`` takes minutes on a loaded machine)."""
    engine = make_engine(settings.database_url)
    ids: list[str] = []
    try:
        sessionmaker = make_sessionmaker(engine)
        for start in range(0, len(targets), 500):
            async with sessionmaker() as session, session.begin():
                requests = await _batch_requests(session, targets[start : start + 500])
                tenant_id = requests[0].sender.tenant_id
                outcomes = await submit_batch(
                    session, settings, tenant_id, uuid.uuid4(), requests, utc_now(SystemClock())
                )
                assert {o.kind for o in outcomes} == {"queued"}, outcomes
                ids += [str(o.message_id) for o in outcomes]
    finally:
        await engine.dispose()
    return ids


async def _batch_requests(session: AsyncSession, targets: list[Target]) -> list[BatchRequest]:
    contacts = await session.scalars(
        select(Contact).where(Contact.id.in_([t.contact_id for t in targets]))
    )
    by_id = {contact.id: contact for contact in contacts}
    senders = await session.scalars(
        select(Sender).where(Sender.id.in_({t.sender_id for t in targets}))
    )
    sender_by_id = {sender.id: sender for sender in senders}
    return [
        BatchRequest(
            f"bench:{target.contact_id}",
            by_id[target.contact_id],
            sender_by_id[target.sender_id],
            TemplateOut(TEMPLATE, "en_US"),
        )
        for target in targets
    ]


async def message_states(settings: Settings) -> tuple[Counter[str], int]:
    """Outbound messages by status, and send-queue rows still queued or sending."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Message.status, func.count())
                .where(Message.direction == "outbound")
                .group_by(Message.status)
            )
            statuses = Counter({status: int(count) for status, count in rows.all()})
            left = await session.scalar(
                select(func.count()).where(SendQueueItem.state.in_(("queued", "sending")))
            )
            return statuses, int(left or 0)
    finally:
        await engine.dispose()


async def unknown_ids(settings: Settings) -> set[str]:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(select(Message.id).where(Message.status == "unknown"))
            return {str(i) for i in rows.scalars()}
    finally:
        await engine.dispose()


def per_second(received: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Sends accepted per (number, whole second of the simulator's clock)."""
    return dict(Counter((m["phone_number_id"], int(m["received_at"])) for m in received))


__all__ = [
    "Simulator",
    "Target",
    "env_of",
    "free_port",
    "healthy",
    "message_states",
    "per_second",
    "queue_templates",
    "queue_templates_batch",
    "seed",
    "start_api",
    "start_sender_worker",
    "start_simulator",
    "unknown_ids",
]
