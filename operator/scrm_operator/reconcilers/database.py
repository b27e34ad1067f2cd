"""A database and role for the tenant on a shared PostgreSQL server (created once)."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg

from scrm_operator import names
from scrm_operator.builders.secrets import database_secret
from scrm_operator.kube import Kube
from scrm_operator.spec import TenantSpec


class AdminSecretMissing(LookupError):
    pass


async def _create(host: str, port: int, admin: dict[str, str], ident: str, password: str) -> None:
    conn = await asyncpg.connect(
        host=host,
        port=port,
        user=admin["username"],
        password=admin["password"],
        database="postgres",
        timeout=10,
    )
    try:
        role_exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", ident)
        literal = password.replace("'", "''")
        verb = "ALTER" if role_exists else "CREATE"
        await conn.execute(f"{verb} ROLE \"{ident}\" LOGIN PASSWORD '{literal}'")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", ident):
            await conn.execute(f'CREATE DATABASE "{ident}" OWNER "{ident}"')
    finally:
        await conn.close()


def ensure_shared_database(kube: Kube, tenant: TenantSpec) -> None:
    """Create role + database named ``scrm_<namespace>_<tenant>`` and the URL Secret.

    The identifier comes from validated DNS labels (``[a-z0-9_]``), so quoting is safe. The
    database is never dropped by the operator: deleting a tenant keeps its data.
    """
    server = tenant.shared_database
    assert server is not None
    admin_name = server["adminSecretRef"]["name"]
    admin = kube.secret_data(tenant.namespace, admin_name)
    if admin is None:
        raise AdminSecretMissing(f"Secret {tenant.namespace}/{admin_name} not found")
    existing = kube.secret_data(tenant.namespace, names.database_secret(tenant.name))
    password = existing["password"] if existing else secrets.token_urlsafe(24)
    ident = names.database_identifier(tenant.namespace, tenant.name)
    host, port = server["host"], server.get("port", 5432)
    asyncio.run(_create(host, port, admin, ident, password))
    if existing is None:
        url = f"postgresql+asyncpg://{ident}:{password}@{host}:{port}/{ident}"
        kube.create(database_secret(tenant, url, password))
