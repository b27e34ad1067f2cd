"""A database and role for the tenant on a shared PostgreSQL server (created once)."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit

import asyncpg

from scrm_operator import names
from scrm_operator.builders.secrets import database_secret
from scrm_operator.kube import Kube
from scrm_operator.spec import TenantSpec


class AdminSecretMissing(LookupError):
    pass


async def _create(
    server: tuple[str, int],
    admin: dict[str, str],
    ident: str,
    password: str,
    owner: str,
    *,
    recorded: bool,
) -> None:
    """Role (tagged with its owner by a comment, in the same transaction) and database
    (owned by that role). An existing role tagged otherwise, or a database owned by another
    role, is refused: it is someone else's. An untagged role is taken only when the
    tenant's own Secret names it (made before roles were tagged)."""
    conn = await asyncpg.connect(
        host=server[0],
        port=server[1],
        user=admin["username"],
        password=admin["password"],
        database="postgres",
        timeout=10,
    )
    try:
        role = await conn.fetchrow(
            "SELECT shobj_description(oid, 'pg_authid') AS tag FROM pg_roles WHERE rolname = $1",
            ident,
        )
        untagged_ok = recorded and role is not None and role["tag"] is None
        if role is not None and role["tag"] != owner and not untagged_ok:
            raise names.NameClash(f"PostgreSQL role {ident!r} belongs to {role['tag']!r}")
        literal = password.replace("'", "''")
        async with conn.transaction():
            verb = "ALTER" if role is not None else "CREATE"
            await conn.execute(f"{verb} ROLE \"{ident}\" LOGIN PASSWORD '{literal}'")
            await conn.execute(f"COMMENT ON ROLE \"{ident}\" IS '{owner}'")
        database_owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", ident
        )
        if database_owner is None:
            await conn.execute(f'CREATE DATABASE "{ident}" OWNER "{ident}"')
        elif database_owner != ident:
            raise names.NameClash(f"PostgreSQL database {ident!r} is owned by {database_owner!r}")
    finally:
        await conn.close()


def ensure_shared_database(kube: Kube, tenant: TenantSpec) -> None:
    """Create role + database ``scrm.<namespace>.<tenant>`` (names.external_name) and the
    URL Secret; a tenant whose Secret exists keeps the names it records.

    Names come from validated DNS labels (``[a-z0-9.-]``), so quoting is safe. The database
    is never dropped by the operator: deleting a tenant keeps its data.
    """
    server = tenant.shared_database
    assert server is not None
    admin_name = server["adminSecretRef"]["name"]
    admin = kube.secret_data(tenant.namespace, admin_name)
    if admin is None:
        raise AdminSecretMissing(f"Secret {tenant.namespace}/{admin_name} not found")
    existing = kube.secret_data(tenant.namespace, names.database_secret(tenant.name))
    if existing:
        password, ident = existing["password"], urlsplit(existing["url"]).path.lstrip("/")
        if not ident:
            raise ValueError(f"Secret {names.database_secret(tenant.name)} has no database name")
    else:
        password = secrets.token_urlsafe(24)
        ident = names.external_name(tenant.namespace, tenant.name)
    owner = names.owner_tag(tenant.namespace, tenant.name)
    host, port = server["host"], server.get("port", 5432)
    asyncio.run(_create((host, port), admin, ident, password, owner, recorded=bool(existing)))
    if existing is None:
        url = f"postgresql+asyncpg://{ident}:{password}@{host}:{port}/{ident}"
        kube.create(database_secret(tenant, url, password))
