"""The Alembic migrations build exactly the schema the ORM models describe, on both backends,
and every migration can be undone and redone."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

import runtime.models  # noqa: F401  (registers every table)
from runtime.db.base import Base
from runtime.db.migrate import alembic_config, upgrade
from tests.services import require_postgres
from tests.support import postgres_database

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('mig') / 'scrm.db'}"
    else:
        with postgres_database(require_postgres(), "scrm_migrations_test") as url:
            command.downgrade(alembic_config(url), "base")
            yield url


def _schema_drift(url: str) -> list[object]:
    """What autogenerate would still change (empty when migrations and models agree)."""

    def compare(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    return _in_transaction(url, compare)


def _in_transaction(url: str, work: Callable[[Connection], T]) -> T:
    """Run ``work`` on a sync connection inside one committed transaction on ``url``."""

    async def run() -> T:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_match_models_and_round_trip(fresh_database: str) -> None:
    upgrade(fresh_database)
    command.downgrade(alembic_config(fresh_database), "base")
    upgrade(fresh_database)
    assert _schema_drift(fresh_database) == []


def _dummy(column: Any) -> Any:
    """A value of ``column``'s type, for the NOT NULL columns a test does not care about."""
    kind = type(column.type).__name__.upper()
    if "INT" in kind or "BOOL" in kind:
        return 0
    if "JSON" in kind:
        return {}
    if "DATE" in kind or "TIME" in kind:
        return datetime(2026, 1, 1, tzinfo=UTC)
    if "UUID" in kind:
        return uuid.uuid4()
    return uuid.uuid4().hex[: getattr(column.type, "length", None) or 8]


def _ids_as_stored(connection: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """Reflected SQLite tables see UUID columns as CHAR(32): give them the stored hex."""
    if connection.dialect.name != "sqlite":
        return row
    return {k: v.hex if isinstance(v, uuid.UUID) else v for k, v in row.items()}


def _seed_0002(connection: Connection, at: datetime) -> dict[str, list[uuid.UUID]]:
    """A tenant with one conversation and three messages, two sharing one second."""
    meta = MetaData()
    meta.reflect(connection)
    ids: dict[str, uuid.UUID] = {t: uuid.uuid4() for t in ("tenants", "senders", "contacts")}
    ids["conversations"] = uuid.uuid4()
    given: dict[str, dict[str, Any]] = {
        "tenants": {},
        "senders": {"tenant_id": ids["tenants"]},
        "contacts": {"tenant_id": ids["tenants"], "phone": "+6281234567001"},
        "conversations": {
            "tenant_id": ids["tenants"],
            "sender_id": ids["senders"],
            "contact_id": ids["contacts"],
        },
    }
    for name, values in given.items():
        table = meta.tables[name]
        row = {c.name: _dummy(c) for c in table.columns if not c.nullable}
        values = _ids_as_stored(connection, row | values | {"id": ids[name]})
        connection.execute(table.insert().values(values))
    later, earlier = sorted((uuid.uuid4(), uuid.uuid4()), reverse=True)
    messages = meta.tables["messages"]
    order = [(uuid.uuid4(), at - timedelta(seconds=1)), (earlier, at), (later, at)]
    for message_id, created_at in order:
        row = {c.name: _dummy(c) for c in messages.columns if not c.nullable}
        values = row | {
            "id": message_id,
            "tenant_id": ids["tenants"],
            "conversation_id": ids["conversations"],
            "created_at": created_at,
            "wamid": None,
        }
        connection.execute(messages.insert().values(_ids_as_stored(connection, values)))
    return {"conversation": [ids["conversations"]], "messages": [m for m, _ in order]}


def test_0003_numbers_existing_messages_and_keeps_every_row(fresh_database: str) -> None:
    """Existing messages get their place by (created_at, id); rebuilding tables on SQLite
    (batch mode) must not cascade-delete what references them."""
    upgrade(fresh_database, "0002")

    seeded = _in_transaction(
        fresh_database, lambda c: _seed_0002(c, datetime(2026, 5, 1, tzinfo=UTC))
    )
    upgrade(fresh_database)

    def read(connection: Connection) -> tuple[list[Any], list[Any]]:
        messages = connection.execute(
            text("SELECT id, conversation_seq FROM messages ORDER BY conversation_seq")
        ).all()
        conversations = connection.execute(text("SELECT message_seq FROM conversations")).all()
        return list(messages), list(conversations)

    messages, conversations = _in_transaction(fresh_database, read)
    assert [(uuid.UUID(str(m)), s) for m, s in messages] == [
        (m, i) for i, m in enumerate(seeded["messages"], start=1)
    ]
    assert [tuple(c) for c in conversations] == [(3,)]


def _seed_0001(connection: Connection) -> uuid.UUID:
    """An agent in a team, owning a contact: rows that reference ``agents``."""
    meta = MetaData()
    meta.reflect(connection)
    ids = {t: uuid.uuid4() for t in ("tenants", "roles", "agents", "teams", "contacts")}
    given: dict[str, dict[str, Any]] = {
        "tenants": {},
        "roles": {"tenant_id": ids["tenants"]},
        "agents": {"tenant_id": ids["tenants"], "role_id": ids["roles"]},
        "teams": {"tenant_id": ids["tenants"]},
        "contacts": {"tenant_id": ids["tenants"], "assigned_agent_id": ids["agents"]},
    }
    for name, values in given.items():
        table = meta.tables[name]
        row = {c.name: _dummy(c) for c in table.columns if not c.nullable}
        connection.execute(
            table.insert().values(_ids_as_stored(connection, row | values | {"id": ids[name]}))
        )
    member = {"team_id": ids["teams"], "agent_id": ids["agents"], "tenant_id": ids["tenants"]}
    connection.execute(
        meta.tables["team_members"].insert().values(_ids_as_stored(connection, member))
    )
    return ids["agents"]


def test_0002_keeps_what_references_agents(fresh_database: str) -> None:
    """0002 rebuilds ``agents`` on SQLite: memberships and assignments must survive it."""
    upgrade(fresh_database, "0001")

    _in_transaction(fresh_database, _seed_0001)
    upgrade(fresh_database)

    def read(connection: Connection) -> tuple[int, int]:
        members = connection.execute(text("SELECT count(*) FROM team_members")).scalar_one()
        owned = connection.execute(
            text("SELECT count(*) FROM contacts WHERE assigned_agent_id IS NOT NULL")
        ).scalar_one()
        return members, owned

    assert _in_transaction(fresh_database, read) == (1, 1)


def _seed_roles(new: set[str]) -> Callable[[Connection], dict[str, uuid.UUID]]:
    """Seeds a tenant's roles as they were before the permissions ``new`` existed."""
    return lambda connection: _seed_roles_without(connection, new)


def _seed_roles_without(connection: Connection, new: set[str]) -> dict[str, uuid.UUID]:
    """A tenant's roles without the permissions ``new``: an admin (the whole catalogue of
    then), the built-in supervisor, a custom admin-like role, and a small custom role."""
    from runtime.domain.permissions import BUILTIN_ROLES

    meta = MetaData()
    meta.reflect(connection)
    tenant = uuid.uuid4()
    row = {c.name: _dummy(c) for c in meta.tables["tenants"].columns if not c.nullable}
    connection.execute(
        meta.tables["tenants"].insert().values(_ids_as_stored(connection, row | {"id": tenant}))
    )
    catalogue = sorted(set(BUILTIN_ROLES["admin"][1]) - new)
    supervisor = sorted(set(BUILTIN_ROLES["supervisor"][1]) - new)
    roles = {
        "admin": (True, catalogue),
        "supervisor": (True, supervisor),
        "owners": (False, catalogue),
        "readers": (False, ["agents:read"]),
    }
    ids = {}
    for name, (builtin, permissions) in roles.items():
        ids[name] = uuid.uuid4()
        values = {
            "id": ids[name],
            "tenant_id": tenant,
            "name": name,
            "description": "",
            "builtin": builtin,
            "permissions": permissions,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
        connection.execute(meta.tables["roles"].insert().values(_ids_as_stored(connection, values)))
    return ids


def test_0005_gives_admin_roles_the_consent_permissions(fresh_database: str) -> None:
    """Roles that held the whole catalogue stay admins (``is_admin``), so the last-admin
    rule and "grant only what you hold" keep working; supervisors may read the rules."""
    from runtime.domain.privileges import is_admin

    upgrade(fresh_database, "0004")
    consent = {"consent:read", "consent:write"}
    ids = _in_transaction(
        fresh_database,
        _seed_roles(consent | ALERT_PERMISSIONS | CAMPAIGN_PERMISSIONS | TOOLKIT_PERMISSIONS),
    )
    upgrade(fresh_database)
    read = _roles_reader(ids)
    permissions = _in_transaction(fresh_database, read)
    assert is_admin(permissions["admin"]) and is_admin(permissions["owners"])
    assert {"consent:read", "consent:write"} & permissions["supervisor"] == {"consent:read"}
    assert permissions["readers"] == {"agents:read"}

    command.downgrade(alembic_config(fresh_database), "0004")
    assert "consent:read" not in _in_transaction(fresh_database, read)["supervisor"]


ALERT_PERMISSIONS = {"alerts:read", "alerts:write"}
CAMPAIGN_PERMISSIONS = {"campaigns:read", "campaigns:write", "campaigns:launch"}
TOOLKIT_PERMISSIONS = {"canned:write", "labels:write"}


def _roles_reader(
    ids: dict[str, uuid.UUID],
) -> Callable[[Connection], dict[str, set[str]]]:
    def read(connection: Connection) -> dict[str, set[str]]:
        rows = connection.execute(text("SELECT id, permissions FROM roles")).all()
        by_id = {uuid.UUID(str(i)): p for i, p in rows}
        return {
            name: set(json.loads(by_id[i]) if isinstance(by_id[i], str) else by_id[i])
            for name, i in ids.items()
        }

    return read


def test_0007_gives_admin_roles_the_alert_permissions(fresh_database: str) -> None:
    """Roles that held the whole catalogue stay admins; nobody else gets the alerts."""
    from runtime.domain.privileges import is_admin

    upgrade(fresh_database, "0006")
    alerts = ALERT_PERMISSIONS
    ids = _in_transaction(
        fresh_database, _seed_roles(alerts | CAMPAIGN_PERMISSIONS | TOOLKIT_PERMISSIONS)
    )
    upgrade(fresh_database)
    read = _roles_reader(ids)
    permissions = _in_transaction(fresh_database, read)
    assert is_admin(permissions["admin"]) and is_admin(permissions["owners"])
    assert not alerts & (permissions["supervisor"] | permissions["readers"])

    command.downgrade(alembic_config(fresh_database), "0006")
    assert not alerts & _in_transaction(fresh_database, read)["admin"]


def test_0008_gives_admin_roles_the_campaign_permissions(fresh_database: str) -> None:
    """As 0005 did for consent: admins stay admins, supervisors may read campaigns."""
    from runtime.domain.privileges import is_admin

    upgrade(fresh_database, "0006")
    ids = _in_transaction(
        fresh_database,
        _seed_roles(ALERT_PERMISSIONS | CAMPAIGN_PERMISSIONS | TOOLKIT_PERMISSIONS),
    )
    upgrade(fresh_database)
    read = _roles_reader(ids)
    permissions = _in_transaction(fresh_database, read)
    assert is_admin(permissions["admin"]) and is_admin(permissions["owners"])
    assert CAMPAIGN_PERMISSIONS & permissions["supervisor"] == {"campaigns:read"}
    assert permissions["readers"] == {"agents:read"}

    command.downgrade(alembic_config(fresh_database), "0007")
    assert not CAMPAIGN_PERMISSIONS & _in_transaction(fresh_database, read)["admin"]


def test_0013_gives_admins_and_supervisors_the_toolkit_permissions(fresh_database: str) -> None:
    """Admins stay admins; the built-in supervisor manages canned responses and labels."""
    from runtime.domain.privileges import is_admin

    upgrade(fresh_database, "0012")
    ids = _in_transaction(fresh_database, _seed_roles(TOOLKIT_PERMISSIONS))
    upgrade(fresh_database)
    read = _roles_reader(ids)
    permissions = _in_transaction(fresh_database, read)
    assert is_admin(permissions["admin"]) and is_admin(permissions["owners"])
    assert permissions["supervisor"] >= TOOLKIT_PERMISSIONS
    assert permissions["readers"] == {"agents:read"}

    command.downgrade(alembic_config(fresh_database), "0012")
    after = _in_transaction(fresh_database, read)
    assert not TOOLKIT_PERMISSIONS & (after["admin"] | after["supervisor"])
