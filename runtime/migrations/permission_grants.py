"""Data steps shared by revisions that add permissions to the catalogue.

A role that held the whole catalogue before a revision was an admin role and must stay one
(runtime/domain/privileges.is_admin compares with the whole catalogue), so it gets every new
permission; the built-in supervisor may get a subset (usually the read permission). Revisions
are frozen in time, and so is this module: change behaviour only by adding a function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Set

import sqlalchemy as sa

# The catalogue as revision 0004 left it; later revisions add to it what the ones before them
# granted (e.g. ``CATALOGUE_0004 | {"consent:read", "consent:write"}`` is 0005's).
CATALOGUE_0004 = frozenset({
    "agents:read", "agents:write", "teams:read", "teams:write", "roles:read", "roles:write",
    "contacts:read:all", "contacts:read:assigned", "contacts:write", "contacts:import",
    "contacts:assign", "pool:claim", "senders:read", "senders:write", "senders:allocate",
    "inbox:read:all", "inbox:read:assigned", "inbox:send", "inbox:assign", "templates:read",
    "templates:write", "audit:read",
})  # fmt: skip

_roles = sa.table(
    "roles",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("builtin", sa.Boolean()),
    sa.column("permissions", sa.JSON()),
)


def _stored(permissions: object) -> list[str]:
    """A role's permissions as read back (JSON text on some drivers, a list on others)."""
    return list(json.loads(permissions) if isinstance(permissions, str) else permissions)  # type: ignore[arg-type]


def _set_permissions(connection: sa.Connection, role_id: object, permissions: list[str]) -> None:
    connection.execute(
        sa.update(_roles).where(_roles.c.id == role_id).values(permissions=permissions)
    )


def grant_new_permissions(
    connection: sa.Connection,
    *,
    catalogue_before: Set[str],
    new: Iterable[str],
    supervisor: Iterable[str] = (),
) -> None:
    """Give ``new`` to every role holding all of ``catalogue_before``, and ``supervisor`` to
    the built-in supervisor role."""
    new, supervisor = set(new), set(supervisor)
    for role_id, name, builtin, permissions in connection.execute(sa.select(_roles)).all():
        held = set(_stored(permissions))
        if held >= catalogue_before:
            added = held | new
        elif builtin and name == "supervisor" and supervisor:
            added = held | supervisor
        else:
            continue
        _set_permissions(connection, role_id, sorted(added))


def revoke_permissions(connection: sa.Connection, removed: Iterable[str]) -> None:
    """Take ``removed`` away from every role (a downgrade's half of ``grant_new_permissions``)."""
    removed = set(removed)
    for role_id, _, _, permissions in connection.execute(sa.select(_roles)).all():
        held = _stored(permissions)
        kept = [p for p in held if p not in removed]
        if kept != held:
            _set_permissions(connection, role_id, kept)
