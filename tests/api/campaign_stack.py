"""A seeded campaign for real processes: a tenant with an admin and numbers, the approved
template of tests/api/outbound_stack.py, N tagged contacts (inserted set-wise), an audience of
them and a draft campaign over the numbers; launching it through ``POST …/launch``. Used by
tests/api/test_campaign_processes.py and bench/campaign.py."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from sqlalchemy import func, insert, select

from runtime.api.app import create_app
from runtime.clock import SystemClock, utc_now
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.security import encrypt_secret
from runtime.domain.tenants import create_admin, create_tenant
from runtime.models import Audience, Campaign, CampaignRecipient, Contact, Sender, Template
from runtime.settings import Settings
from tests.api.outbound_stack import TEMPLATE, TOKEN, WABA_ID

TAG = "campaign-bench"
ADMIN_PASSWORD = "campaign stack password"


@dataclass
class Seeded:
    campaign_id: uuid.UUID
    phones: list[str]
    admin_email: str


async def seed_campaign(
    settings: Settings, numbers: list[str], recipients: int, throughput: int, rate_per_minute: int
) -> Seeded:
    engine = make_engine(settings.database_url)
    key = settings.encryption_key.get_secret_value()
    try:
        async with make_sessionmaker(engine)() as session:
            slug = f"camp-{uuid.uuid4().hex[:8]}"
            tenant = await create_tenant(session, slug, "Campaigns")
            admin = await create_admin(
                session, tenant, f"admin@{slug}.example", "Admin", ADMIN_PASSWORD
            )
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
            senders = [
                Sender(
                    id=uuid.uuid4(),
                    tenant_id=tenant.id,
                    phone_number_id=number,
                    display_number=f"+1555{number[-7:]}",
                    waba_id=WABA_ID,
                    access_token_encrypted=encrypt_secret(TOKEN, key),
                    quality_rating="GREEN",
                    throughput_mps=throughput,
                    messaging_limit_tier="TIER_UNLIMITED",
                )
                for number in numbers
            ]
            session.add_all(senders)
            prefix = uuid.uuid4().int % 10**4
            phones = [f"+6285{prefix:04d}{r:06d}" for r in range(recipients)]
            now = utc_now(SystemClock())
            rows = [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "phone": phone,
                    "name": "",
                    "attributes": {},
                    "tags": [TAG],
                    "consent_state": "unknown",
                    "created_at": now,
                    "updated_at": now,
                }
                for phone in phones
            ]
            await session.flush()
            for start in range(0, len(rows), 5_000):
                await session.execute(insert(Contact.__table__), rows[start : start + 5_000])  # type: ignore[arg-type]
            audience = Audience(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                name="bench",
                definition={"field": "tags", "op": "has", "value": TAG},
            )
            session.add(audience)
            campaign = Campaign(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                name="bench",
                status="draft",
                audience_id=audience.id,
                template_name=TEMPLATE,
                template_language="en_US",
                parameters={},
                sender_mode="named",
                sender_ids=[str(s.id) for s in senders],
                rate_per_minute=rate_per_minute,
                failure_threshold=0.5,
                next_slot_at=0.0,
                created_by=admin.id,
            )
            session.add(campaign)
            await session.commit()
            return Seeded(campaign.id, phones, admin.email)
    finally:
        await engine.dispose()


async def launch(settings: Settings, seeded: Seeded) -> float:
    """Seconds ``POST /api/campaigns/{id}/launch`` takes, from the request to its 200 (the
    admin's permission, the setup checks, the audience expanded into recipients and committed,
    the answer with the totals). The app's background pipelines are not started. The campaign
    is read once first: a new process's first authenticated request pays a one-off warm-up
    (~1.6 s on the shared machine: statement compilation, lazy imports) that a running api
    process has long paid."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://stack") as client:
            login = await client.post(
                "/api/auth/login", json={"email": seeded.admin_email, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            read = await client.get(f"/api/campaigns/{seeded.campaign_id}", headers=headers)
            assert read.status_code == 200, read.text
            started = time.perf_counter()
            launched = await client.post(
                f"/api/campaigns/{seeded.campaign_id}/launch", headers=headers, timeout=600
            )
            seconds = time.perf_counter() - started
        assert launched.status_code == 200, launched.text
        assert launched.json()["status"] == "running", launched.text
        return seconds
    finally:
        await app.state.whatsapp.aclose()
        await app.state.engine.dispose()


async def recipient_states(settings: Settings, campaign_id: uuid.UUID) -> tuple[Counter[str], str]:
    """The campaign's recipients by state, and its status."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(CampaignRecipient.state, func.count())
                .where(CampaignRecipient.campaign_id == campaign_id)
                .group_by(CampaignRecipient.state)
            )
            states = Counter({state: int(n) for state, n in rows})
            status = await session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
            return states, str(status)
    finally:
        await engine.dispose()
