"""``scrm`` command line: demo, api, ws, migrate, create-admin, create-tenant."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from runtime.settings import Settings


def _serve(app_path: str, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app_path, host=host, port=port, factory=True, log_level="info")


async def _seed_tenant(
    settings: Settings, slug: str, name: str, region: str, email: str, password: str
) -> bool:
    """Create the tenant and its admin unless the tenant exists; True when created."""
    from sqlalchemy import select

    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.domain.tenants import create_admin, create_tenant
    from runtime.models import Tenant

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
                return False
            tenant = await create_tenant(session, slug, name, region)
            await create_admin(session, tenant, email, "Administrator", password)
            await session.commit()
            return True
    finally:
        await engine.dispose()


def _demo_environment(state_dir: Path) -> dict[str, str]:
    """Secrets for the local demo, generated once and kept in ``state_dir``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "demo.json"
    if path.exists():
        state: dict[str, str] = json.loads(path.read_text())
    else:
        state = {
            "SCRM_JWT_SECRET": secrets.token_urlsafe(48),
            "SCRM_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SCRM_WHATSAPP_APP_SECRET": secrets.token_hex(16),
            "SCRM_WHATSAPP_VERIFY_TOKEN": secrets.token_urlsafe(16),
            "admin_password": secrets.token_urlsafe(9),
        }
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)
    state.setdefault("SCRM_DATABASE_URL", f"sqlite+aiosqlite:///{state_dir / 'scrm.db'}")
    return state


def cmd_demo(args: argparse.Namespace) -> None:
    from runtime.db.migrate import upgrade

    state = _demo_environment(Path(args.state_dir).resolve())
    for key, value in state.items():
        if key.startswith("SCRM_"):
            os.environ.setdefault(key, value)
    settings = Settings()  # type: ignore[call-arg]
    upgrade(settings.database_url)
    email = "admin@demo.example"
    asyncio.run(
        _seed_tenant(settings, "demo", "Demo Company", "ID", email, state["admin_password"])
    )
    url = f"http://{args.host}:{args.port}"
    print(
        f"\n  scrm demo is starting at {url}\n"
        f"  log in as {email} / {state['admin_password']} (tenant 'demo')\n"
        f"  API docs: {url}/docs   state: {args.state_dir}\n",
        flush=True,
    )
    _serve("runtime.api.main:app_from_env", args.host, args.port)


def cmd_api(args: argparse.Namespace) -> None:
    _serve("runtime.api.main:app_from_env", args.host, args.port)


def cmd_ws(args: argparse.Namespace) -> None:
    _serve("runtime.ws.main:app_from_env", args.host, args.port)


def cmd_migrate(_: argparse.Namespace) -> None:
    from runtime.db.migrate import upgrade

    upgrade(Settings().database_url)  # type: ignore[call-arg]
    print("database schema is up to date")


def cmd_create_tenant(args: argparse.Namespace) -> None:
    password = args.password or os.environ.get("SCRM_ADMIN_PASSWORD")
    if not password:
        sys.exit("give --password or set SCRM_ADMIN_PASSWORD")
    created = asyncio.run(
        _seed_tenant(
            Settings(),  # type: ignore[call-arg]
            args.slug, args.name or args.slug, args.region, args.admin_email, password,
        )
    )
    print("tenant created" if created else f"tenant {args.slug!r} already exists; unchanged")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything locally on SQLite with a demo tenant")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--state-dir", default=".scrm-demo")
    demo.set_defaults(func=cmd_demo)

    for name, func, port in (("api", cmd_api, 8000), ("ws", cmd_ws, 8001)):
        p = sub.add_parser(name, help=f"run the {name} service (configured by SCRM_* env)")
        p.add_argument("--host", default="0.0.0.0")
        p.add_argument("--port", type=int, default=port)
        p.set_defaults(func=func)

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)

    tenant = sub.add_parser(
        "create-tenant", aliases=["create-admin"], help="create a tenant and its first admin"
    )
    tenant.add_argument("--slug", required=True)
    tenant.add_argument("--name")
    tenant.add_argument("--region", default="ID")
    tenant.add_argument("--admin-email", required=True)
    tenant.add_argument("--password", help="or SCRM_ADMIN_PASSWORD")
    tenant.set_defaults(func=cmd_create_tenant)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)
