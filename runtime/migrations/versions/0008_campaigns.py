"""campaigns: audiences, campaigns, recipients, warm-up; contacts.import_job_id; the new
campaign permissions for roles that held the whole catalogue (and campaigns:read for the
built-in supervisor)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.migrations.permission_grants import (
    CATALOGUE_0004,
    grant_new_permissions,
    revoke_permissions,
)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PERMISSIONS = ("campaigns:read", "campaigns:write", "campaigns:launch")
# The catalogue before this revision (0005 and 0007 added consent and alert permissions).
_CATALOGUE_0007 = CATALOGUE_0004 | {
    "consent:read", "consent:write", "alerts:read", "alerts:write"
}  # fmt: skip


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

    grant_new_permissions(
        op.get_bind(),
        catalogue_before=_CATALOGUE_0007,
        new=NEW_PERMISSIONS,
        supervisor={"campaigns:read"},
    )


def downgrade() -> None:
    revoke_permissions(op.get_bind(), NEW_PERMISSIONS)
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
