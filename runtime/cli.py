"""``scrm`` command line: demo, api, ws, sender-worker, migrate, create-admin, create-tenant."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from runtime.settings import Settings, get_settings


async def _ensure_tenant(
    settings: Settings,
    slug: str,
    name: str,
    region: str,
    admin: tuple[str, str] | None = None,
) -> str:
    """Create the tenant if missing, and ``admin`` (e-mail, password) if not there yet."""
    from sqlalchemy import select

    from runtime.db.session import make_engine, make_sessionmaker
    from runtime.domain.tenants import create_admin, create_tenant
    from runtime.models import Agent, Tenant

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            done = [f"tenant {slug!r} exists"]
            if tenant is None:
                tenant = await create_tenant(session, slug, name, region)
                done = [f"tenant {slug!r} created"]
            if admin is not None:
                email = admin[0].lower()
                exists = await session.scalar(
                    select(Agent.id).where(Agent.tenant_id == tenant.id, Agent.email == email)
                )
                if exists:
                    done.append(f"{email} exists (unchanged)")
                else:
                    await create_admin(session, tenant, email, "Administrator", admin[1])
                    done.append(f"admin {email} created")
            await session.commit()
            return "; ".join(done)
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
        f"  be the customer: {url}/simulator/phone   API docs: {url}/docs\n"
        f"  state (SQLite, secrets): {args.state_dir}\n",
        flush=True,
    )
    serve(app, args.host, args.port)


def cmd_api(args: argparse.Namespace) -> None:
    from runtime.api.app import create_app
    from runtime.ws.server import serve

    serve(create_app(get_settings()), args.host, args.port, access_log=True)


def cmd_ws(args: argparse.Namespace) -> None:
    from runtime.ws.app import create_ws_app
    from runtime.ws.server import serve

    serve(create_ws_app(get_settings()), args.host, args.port)


def cmd_sender_worker(_: argparse.Namespace) -> None:
    """Work the send queue without serving HTTP, until SIGTERM/SIGINT."""
    import signal

    from runtime.outbound import run_sender_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_sender_worker(get_settings(), stop)

    asyncio.run(main())


def cmd_migrate(_: argparse.Namespace) -> None:
    """Upgrade the schema; with ``SCRM_TENANT_SLUG`` set (the operator does), ensure the
    tenant exists too."""
    from runtime.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    print("database schema is up to date")
    if settings.tenant_slug:
        name = settings.tenant_name or settings.tenant_slug
        print(
            asyncio.run(
                _ensure_tenant(settings, settings.tenant_slug, name, settings.default_phone_region)
            )
        )


def cmd_create_admin(args: argparse.Namespace) -> None:
    password = args.password or os.environ.get("SCRM_ADMIN_PASSWORD")
    if not password:
        sys.exit("give --password or set SCRM_ADMIN_PASSWORD")
    from runtime.domain.passwords import password_weakness

    weakness = password_weakness(password)
    if weakness:
        sys.exit(f"weak_password: {weakness}")
    settings = get_settings()
    slug = args.tenant or settings.tenant_slug
    if not slug:
        sys.exit("give --tenant or set SCRM_TENANT_SLUG")
    print(
        asyncio.run(
            _ensure_tenant(
                settings,
                slug,
                args.name or settings.tenant_name or slug,
                args.region,
                (args.email, password),
            )
        )
    )


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
    sub.add_parser(
        "sender-worker", help="work the send queue only (no HTTP), beside or instead of the api's"
    ).set_defaults(func=cmd_sender_worker)

    admin = sub.add_parser(
        "create-admin", help="add an admin to a tenant (creating the tenant if it is missing)"
    )
    admin.add_argument("--tenant", help="tenant slug (default: SCRM_TENANT_SLUG)")
    admin.add_argument("--name", help="tenant display name, when it is created")
    admin.add_argument("--region", default="ID", help="default phone region of a new tenant")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="or SCRM_ADMIN_PASSWORD")
    admin.set_defaults(func=cmd_create_admin)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)
