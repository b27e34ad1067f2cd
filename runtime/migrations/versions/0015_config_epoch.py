"""config_epoch: one counter bumped by triggers whenever configuration the inbound processor
caches across rounds changes (runtime/db/config_cache.py)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 08:20:00

PostgreSQL bumps it from deferred constraint triggers: at commit, so a transaction holds the
counter's row lock only while it commits (no deadlock with the rows it changed before).
SQLite has one writer at a time: plain row triggers. Updates bump it only when a watched
column's value changes (senders are updated often by sender health and outbound code).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → (columns whose change matters, whether inserting or deleting a row matters)
WATCHED: dict[str, tuple[tuple[str, ...], bool]] = {
    "senders": (("phone_number_id", "tenant_id"), True),
    "tenants": (("default_region",), False),  # a deleted tenant's senders go with it
    "sender_allocations": (("sender_id", "team_id", "position"), True),
    "teams": (("name",), True),  # the holding team is the first by position, then name
    "outreach_policies": (("opt_out_keywords", "opt_in_keywords", "opt_out_payloads"), True),
}
_BUMP = "UPDATE config_epoch SET value = value + 1 WHERE id = 1"


def _changed(columns: tuple[str, ...], postgres: bool) -> str:
    """SQL true when one of ``columns`` changed (JSON has no equality on PostgreSQL: text)."""
    if postgres:
        return " OR ".join(f"OLD.{c}::text IS DISTINCT FROM NEW.{c}::text" for c in columns)
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _postgres_triggers(table: str, columns: tuple[str, ...], rows: bool) -> list[str]:
    deferred = "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
    statements = [
        f"CREATE CONSTRAINT TRIGGER config_epoch_{table}_update AFTER UPDATE OF "
        f"{', '.join(columns)} ON {table} {deferred} WHEN ({_changed(columns, True)}) "
        "EXECUTE FUNCTION bump_config_epoch()"
    ]
    if rows:
        statements.append(
            f"CREATE CONSTRAINT TRIGGER config_epoch_{table}_rows AFTER INSERT OR DELETE "
            f"ON {table} {deferred} EXECUTE FUNCTION bump_config_epoch()"
        )
    return statements


def _sqlite_triggers(table: str, columns: tuple[str, ...], rows: bool) -> list[str]:
    statements = [
        f"CREATE TRIGGER config_epoch_{table}_update AFTER UPDATE OF {', '.join(columns)} "
        f"ON {table} FOR EACH ROW WHEN {_changed(columns, False)} BEGIN {_BUMP}; END"
    ]
    if rows:
        statements += [
            f"CREATE TRIGGER config_epoch_{table}_{event.lower()} AFTER {event} ON {table} "
            f"FOR EACH ROW BEGIN {_BUMP}; END"
            for event in ("INSERT", "DELETE")
        ]
    return statements


def _trigger_names(table: str, rows: bool, postgres: bool) -> list[str]:
    kinds = ["update"] + (["rows"] if postgres else ["insert", "delete"]) * rows
    return [f"config_epoch_{table}_{kind}" for kind in kinds]


def upgrade() -> None:
    op.create_table(
        "config_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_epoch")),
    )
    op.execute("INSERT INTO config_epoch (id, value) VALUES (1, 0)")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION bump_config_epoch() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
    triggers = _postgres_triggers if postgres else _sqlite_triggers
    for table, (columns, rows) in WATCHED.items():
        for statement in triggers(table, columns, rows):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (_, rows) in WATCHED.items():
        for name in _trigger_names(table, rows, postgres):
            op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION bump_config_epoch()")
    op.drop_table("config_epoch")
