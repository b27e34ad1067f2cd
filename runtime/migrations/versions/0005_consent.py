"""consent: contacts' marketing consent (state and history), time zone, the tenant's outreach
policy, its do-not-contact list, template sends counted by the marketing cap; the new
consent permissions for roles that held the whole catalogue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.migrations.permission_grants import (
    CATALOGUE_0004,
    grant_new_permissions,
    revoke_permissions,
)

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PERMISSIONS = ("consent:read", "consent:write")


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.add_column(
            sa.Column(
                "consent_state", sa.String(length=12), nullable=False, server_default="unknown"
            )
        )
        batch_op.add_column(
            sa.Column("consent_updated_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))

    op.create_table(
        "consent_changes",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("actor_agent_id", sa.Uuid(), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consent_changes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_consent_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_changes")),
    )
    with op.batch_alter_table("consent_changes") as batch_op:
        batch_op.create_index(
            "ix_consent_changes_contact_created", ["contact_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consent_changes_tenant_id"), ["tenant_id"])

    op.create_table(
        "outreach_policies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("opt_out_keywords", sa.JSON(), nullable=False),
        sa.Column("opt_in_keywords", sa.JSON(), nullable=False),
        sa.Column("opt_out_payloads", sa.JSON(), nullable=False),
        sa.Column("marketing_limit_count", sa.Integer(), nullable=True),
        sa.Column("marketing_limit_days", sa.Integer(), nullable=True),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("default_time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_outreach_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_outreach_policies")),
    )

    op.create_table(
        "do_not_contact",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("actor_agent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_do_not_contact_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_contact")),
        sa.UniqueConstraint("tenant_id", "phone", name=op.f("uq_do_not_contact_tenant_id_phone")),
    )
    with op.batch_alter_table("do_not_contact") as batch_op:
        batch_op.create_index(batch_op.f("ix_do_not_contact_tenant_id"), ["tenant_id"])

    op.create_table(
        "outreach_sends",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_outreach_sends_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_outreach_sends_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_outreach_sends_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_sends")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outreach_sends_message_id")),
    )
    with op.batch_alter_table("outreach_sends") as batch_op:
        batch_op.create_index(
            "ix_outreach_sends_contact_category_sent",
            ["contact_id", "category", "sent_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_outreach_sends_tenant_id"), ["tenant_id"])

    grant_new_permissions(
        op.get_bind(),
        catalogue_before=CATALOGUE_0004,
        new=NEW_PERMISSIONS,
        supervisor={"consent:read"},
    )


def downgrade() -> None:
    revoke_permissions(op.get_bind(), NEW_PERMISSIONS)
    op.drop_table("outreach_sends")
    op.drop_table("do_not_contact")
    op.drop_table("outreach_policies")
    op.drop_table("consent_changes")
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_column("time_zone")
        batch_op.drop_column("consent_updated_at")
        batch_op.drop_column("consent_state")
