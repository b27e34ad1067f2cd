"""``scrm`` command line: demo, api, ws, migrate, create-admin, create-tenant."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from runtime.settings import Settings


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


def cmd_demo(args: argparse.Namespace) -> None:
    from runtime import demo
    from runtime.ws.server import serve

    state = demo.prepare(Path(args.state_dir).resolve())
    url = f"http://{args.host}:{args.port}"
    app = demo.build(state, url)
    print(
        f"\n  scrm demo: open {url}\n"
        f"  admin: {demo.ADMIN_EMAIL} / {state.admin_password}\n"
        f"  agent: {demo.AGENT_EMAIL} / {state.agent_password}\n"
        f"  WhatsApp simulator: {url}/simulator/_sim/health   API docs: {url}/docs\n"
        f"  state (SQLite, secrets): {args.state_dir}\n",
        flush=True,
    )
    serve(app, args.host, args.port)


def cmd_api(args: argparse.Namespace) -> None:
    from runtime.api.app import create_app
    from runtime.ws.server import serve

    serve(create_app(Settings()), args.host, args.port, access_log=True)  # type: ignore[call-arg]


def cmd_ws(args: argparse.Namespace) -> None:
    from runtime.ws.app import create_ws_app
    from runtime.ws.server import serve

    serve(create_ws_app(Settings()), args.host, args.port)  # type: ignore[call-arg]


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
            args.slug,
            args.name or args.slug,
            args.region,
            args.admin_email,
            password,
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
