"""``scrm demo``: the whole platform in one process on SQLite, with the WhatsApp simulator
mounted at ``/simulator`` (sharing the api's clock) and a seeded demo tenant."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import select

from runtime.api.app import create_app
from runtime.db.migrate import upgrade
from runtime.db.session import make_engine, make_sessionmaker
from runtime.domain.security import encrypt_secret
from runtime.domain.senders import set_allocation
from runtime.domain.templates import sync_templates
from runtime.domain.tenants import create_admin, create_agent, create_tenant
from runtime.models import Sender, Team, TeamMember, Tenant
from runtime.settings import Settings
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.simulator import SimulatorConfig
from runtime.whatsapp.simulator import create_app as create_simulator
from runtime.whatsapp.simulator.state import PhoneNumber

TENANT = "demo"
ADMIN_EMAIL = "admin@demo.example"
AGENT_EMAIL = "siti@demo.example"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "6281100000001"
WABA_ID = "102290129340398"
TEMPLATES = [
    ("order_update", "UTILITY", "Hi {{1}}, your order {{2}} has shipped."),
    ("welcome", "MARKETING", "Welcome to Demo Shop! Reply to chat with us."),
]
# Templates with every kind of parameter (docs/rich-messages.md), to try in the composer.
RICH_TEMPLATES = [
    ("december_promo", "MARKETING", [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Hi {{1}}, {{2}} off everything until {{3}}!"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Shop now", "url": "https://shop.example/promo/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Not interested"},
            {"type": "COPY_CODE", "example": "DES20"}]},
    ]),
    ("login_code", "AUTHENTICATION", [
        {"type": "BODY", "text": "*{{1}}* is your verification code."},
        {"type": "BUTTONS",
         "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
    ]),
]  # fmt: skip


SECRET_SETTINGS = ("jwt_secret", "encryption_key", "whatsapp_app_secret", "whatsapp_verify_token")


@dataclass(frozen=True)
class DemoState:
    settings: Settings
    admin_password: str
    agent_password: str
    sender_token: str


def load_state(state_dir: Path) -> DemoState:
    """Secrets for the demo, generated on the first run and kept (0600) in ``state_dir``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "demo.json"
    if path.exists():
        raw: dict[str, str] = json.loads(path.read_text())
    else:
        raw = {
            "jwt_secret": secrets.token_urlsafe(48),
            "encryption_key": Fernet.generate_key().decode(),
            "whatsapp_app_secret": secrets.token_hex(16),
            "whatsapp_verify_token": secrets.token_urlsafe(16),
            "admin_password": secrets.token_urlsafe(12),  # 16 characters: the policy's 12+
            "agent_password": secrets.token_urlsafe(12),
            "sender_token": "EAAG" + secrets.token_urlsafe(24),
        }
        path.write_text(json.dumps(raw, indent=2))
        path.chmod(0o600)
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{state_dir / 'scrm.db'}",
            "media_dir": str(state_dir / "media"),
            **{key: raw[key] for key in SECRET_SETTINGS},
        }
    )
    return DemoState(settings, raw["admin_password"], raw["agent_password"], raw["sender_token"])


async def _seed(state: DemoState, client: CloudAPIClient) -> None:
    """Tenant, admin, an agent in a team, the demo sender allocated, templates synced."""
    engine = make_engine(state.settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == TENANT))
            if tenant is None:
                tenant = await create_tenant(session, TENANT, "Demo Shop", "ID")
                await create_admin(session, tenant, ADMIN_EMAIL, "Demo Admin", state.admin_password)
                agent = await create_agent(
                    session, tenant, AGENT_EMAIL, "Siti (agent)", state.agent_password, "agent"
                )
                team = Team(tenant_id=tenant.id, name="Customer Care")
                session.add(team)
                sender = Sender(
                    tenant_id=tenant.id,
                    phone_number_id=PHONE_NUMBER_ID,
                    display_number="+" + DISPLAY_NUMBER,
                    waba_id=WABA_ID,
                    verified_name="Demo Shop",
                    quality_rating="GREEN",
                    access_token_encrypted=encrypt_secret(
                        state.sender_token, state.settings.encryption_key.get_secret_value()
                    ),
                )
                session.add(sender)
                await session.flush()
                session.add(TeamMember(team_id=team.id, agent_id=agent.id, tenant_id=tenant.id))
                await set_allocation(session, tenant.id, ("team", team.id), sender.id, [])
                await session.commit()
            await sync_templates(session, client, state.settings, tenant.id)
            await session.commit()
    finally:
        await engine.dispose()


def _simulated_meta(state: DemoState, base_url: str) -> FastAPI:
    """The simulator, knowing the demo number and its approved templates."""
    simulator_app = create_simulator(
        SimulatorConfig(
            webhook_url=f"{base_url}/webhooks/whatsapp",
            app_secret=state.settings.whatsapp_app_secret.get_secret_value(),
            status_interval=1.0,
        )
    )
    simulator = simulator_app.state.simulator
    simulator.state.phone_numbers[PHONE_NUMBER_ID] = PhoneNumber(
        id=PHONE_NUMBER_ID,
        display_phone_number=DISPLAY_NUMBER,
        waba_id=WABA_ID,
        access_token=state.sender_token,
        verified_name="Demo Shop",
    )
    plain = [
        (name, category, [{"type": "BODY", "text": body}]) for name, category, body in TEMPLATES
    ]
    for name, category, components in plain + RICH_TEMPLATES:
        simulator.add_template(
            waba_id=WABA_ID,
            name=name,
            language="en_US",
            category=category,
            status="APPROVED",
            components=components,
        )
    return simulator_app


def build(state: DemoState, base_url: str) -> FastAPI:
    """The demo: api (+ websockets) with the simulator mounted at ``/simulator``; the
    tenant is seeded at start-up through the simulator, like a real template sync."""
    simulator_app = _simulated_meta(state, base_url)
    api = create_app(
        state.settings,
        clock=simulator_app.state.simulator.state.clock,
        whatsapp=CloudAPIClient(f"{base_url}/simulator"),
    )
    api.mount("/simulator", simulator_app)
    api_lifespan = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sim_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=simulator_app), base_url="http://simulator"
        )
        async with sim_http, api_lifespan(app):
            await _seed(state, CloudAPIClient("http://simulator", http=sim_http))
            yield
        await simulator_app.state.simulator.aclose()

    api.router.lifespan_context = lifespan
    return api


def prepare(state_dir: Path) -> DemoState:
    """Load (or create) the demo's secrets and bring its database schema up to date."""
    state = load_state(state_dir)
    upgrade(state.settings.database_url)
    return state
