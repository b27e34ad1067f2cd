"""A seeded campaign for real processes: a tenant with numbers, the approved template of
tests/api/outbound_stack.py, N tagged contacts (inserted set-wise), an audience of them and
a draft campaign over the numbers; launching it as the API does. Used by
tests/api/test_campaign_processes.py and bench/campaign.py."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, insert, select

from runtime.campaigns.launcher import start_if_due
from runtime.clock import SystemClock, utc_now
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.campaigns import transition
from runtime.domain.security import encrypt_secret
from runtime.domain.tenants import create_tenant
from runtime.models import Audience, Campaign, CampaignRecipient, Contact, Sender, Template
from runtime.settings import Settings
from tests.api.outbound_stack import TEMPLATE, TOKEN, WABA_ID

TAG = "campaign-bench"


@dataclass
class Seeded:
    campaign_id: uuid.UUID
    phones: list[str]


async def seed_campaign(
    settings: Settings, numbers: list[str], recipients: int, throughput: int, rate_per_minute: int
) -> Seeded:
    engine = make_engine(settings.database_url)
    key = settings.encryption_key.get_secret_value()
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await create_tenant(session, f"camp-{uuid.uuid4().hex[:8]}", "Campaigns")
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
                created_by=uuid.uuid4(),
            )
            session.add(campaign)
            await session.commit()
            return Seeded(campaign.id, phones)
    finally:
        await engine.dispose()


async def launch(settings: Settings, campaign_id: uuid.UUID) -> float:
    """Launch as ``POST …/launch`` does (expansion in the same transaction); seconds taken."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            assert campaign is not None
            transition(campaign, "launch")
            await start_if_due(session, campaign, utc_now(SystemClock()))
            await session.commit()
            return time.perf_counter() - started
    finally:
        await engine.dispose()


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
