"""campaigns: audiences, campaigns, recipients, warm-up; contacts.import_job_id; the new
campaign permissions for roles that held the whole catalogue (and campaigns:read for the
built-in supervisor)

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29 22:40:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PERMISSIONS = ("campaigns:read", "campaigns:write", "campaigns:launch")
# The catalogue before this revision: a role holding all of it was an admin role, and stays
# one (runtime/domain/privileges.is_admin compares with the whole catalogue).
_CATALOGUE_0007 = {
    "agents:read", "agents:write", "teams:read", "teams:write", "roles:read", "roles:write",
    "contacts:read:all", "contacts:read:assigned", "contacts:write", "contacts:import",
    "contacts:assign", "pool:claim", "senders:read", "senders:write", "senders:allocate",
    "inbox:read:all", "inbox:read:assigned", "inbox:send", "inbox:assign", "templates:read",
    "templates:write", "audit:read", "consent:read", "consent:write", "alerts:read",
    "alerts:write",
}  # fmt: skip
_roles = sa.table(
    "roles",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("builtin", sa.Boolean()),
    sa.column("permissions", sa.JSON()),
)


def _held(permissions: object) -> list[str]:
    return list(json.loads(permissions) if isinstance(permissions, str) else permissions)  # type: ignore[arg-type]


def _grant_campaign_permissions(connection: sa.Connection) -> None:
    for role_id, name, builtin, permissions in connection.execute(sa.select(_roles)).all():
        held = set(_held(permissions))
        if held >= _CATALOGUE_0007:
            added = held | set(NEW_PERMISSIONS)
        elif builtin and name == "supervisor":
            added = held | {"campaigns:read"}
        else:
            continue
        connection.execute(
            sa.update(_roles).where(_roles.c.id == role_id).values(permissions=sorted(added))
        )


def _revoke_campaign_permissions(connection: sa.Connection) -> None:
    for role_id, _, _, permissions in connection.execute(sa.select(_roles)).all():
        held = _held(permissions)
        kept = [p for p in held if p not in NEW_PERMISSIONS]
        if kept != held:
            connection.execute(
                sa.update(_roles).where(_roles.c.id == role_id).values(permissions=kept)
            )


def upgrade() -> None:
    op.create_table(
        "audiences",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_audiences_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audiences")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_audiences_tenant_id_name")),
    )
    with op.batch_alter_table("audiences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audiences_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("audience_id", sa.Uuid(), nullable=False),
        sa.Column("template_name", sa.String(length=512), nullable=False),
        sa.Column("template_language", sa.String(length=15), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("sender_mode", sa.String(length=10), nullable=False),
        sa.Column("sender_ids", sa.JSON(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_window", sa.JSON(), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("frequency_cap_count", sa.Integer(), nullable=True),
        sa.Column("frequency_cap_days", sa.Integer(), nullable=True),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("pause_reason", sa.String(length=200), nullable=True),
        sa.Column("next_slot_at", sa.Float(), nullable=False),
        sa.Column("expanded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["audience_id"],
            ["audiences.id"],
            name=op.f("fk_campaigns_audience_id_audiences"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaigns_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_audience_id"), ["audience_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sender_warmups",
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("day_one_budget", sa.Integer(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("budget_day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["senders.id"],
            name=op.f("fk_sender_warmups_sender_id_senders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sender_warmups_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_warmups")),
        sa.UniqueConstraint("sender_id", name=op.f("uq_sender_warmups_sender_id")),
    )
    with op.batch_alter_table("sender_warmups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sender_warmups_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("skip_rule", sa.String(length=60), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_recipients_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_campaign_recipients_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["senders.id"],
            name=op.f("fk_campaign_recipients_sender_id_senders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaign_recipients_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "contact_id", name=op.f("pk_campaign_recipients")),
    )
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_recipients_contact_queued", ["contact_id", "queued_at"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_recipients_due", ["campaign_id", "state", "not_before"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_recipients_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_recipients_sender_queued", ["sender_id", "queued_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_recipients_tenant_id"), ["tenant_id"], unique=False
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_job_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_contacts_import_job_id"), ["import_job_id"], unique=False
        )

    _grant_campaign_permissions(op.get_bind())


def downgrade() -> None:
    _revoke_campaign_permissions(op.get_bind())
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_import_job_id"))
        batch_op.drop_column("import_job_id")

    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_recipients_tenant_id"))
        batch_op.drop_index("ix_campaign_recipients_sender_queued")
        batch_op.drop_index(batch_op.f("ix_campaign_recipients_message_id"))
        batch_op.drop_index("ix_campaign_recipients_due")
        batch_op.drop_index("ix_campaign_recipients_contact_queued")

    op.drop_table("campaign_recipients")
    with op.batch_alter_table("sender_warmups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sender_warmups_tenant_id"))

    op.drop_table("sender_warmups")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_audience_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("audiences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audiences_tenant_id"))

    op.drop_table("audiences")
