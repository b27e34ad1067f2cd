"""agent toolkit: canned responses, labels on conversations, the typing-indicator throttle,
the agent's UI locale; canned:write and labels:write for roles that held the whole catalogue
and for the built-in supervisor

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.migrations.permission_grants import (
    CATALOGUE_0004,
    grant_new_permissions,
    revoke_permissions,
)

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PERMISSIONS = ("canned:write", "labels:write")
# The catalogue before this revision (0005, 0007 and 0008 added consent, alert and campaign
# permissions).
_CATALOGUE_0008 = CATALOGUE_0004 | {
    "consent:read", "consent:write", "alerts:read", "alerts:write",
    "campaigns:read", "campaigns:write", "campaigns:launch",
}  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("owner_agent_id", sa.Uuid(), nullable=True),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_agent_id"],
            ["agents.id"],
            name=op.f("fk_canned_responses_owner_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canned_responses_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint(
            "tenant_id",
            "scope",
            "shortcut",
            name=op.f("uq_canned_responses_tenant_id_scope_shortcut"),
        ),
    )
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_canned_responses_owner_agent_id"), ["owner_agent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_canned_responses_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "labels",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_labels_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_labels_tenant_id_name")),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labels_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "conversation_labels",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("label_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_labels_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_conversation_labels_label_id_labels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_conversation_labels_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "label_id", name=op.f("pk_conversation_labels")),
    )
    with op.batch_alter_table("conversation_labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_labels_label_id"), ["label_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_labels_tenant_id"), ["tenant_id"], unique=False
        )

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=5), nullable=True))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("typing_indicated_at", sa.DateTime(timezone=True), nullable=True)
        )

    grant_new_permissions(
        op.get_bind(),
        catalogue_before=_CATALOGUE_0008,
        new=NEW_PERMISSIONS,
        supervisor=NEW_PERMISSIONS,
    )


def downgrade() -> None:
    revoke_permissions(op.get_bind(), NEW_PERMISSIONS)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("typing_indicated_at")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("locale")
    with op.batch_alter_table("conversation_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_labels_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_labels_label_id"))
    op.drop_table("conversation_labels")
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_labels_tenant_id"))
    op.drop_table("labels")
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_responses_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_canned_responses_owner_agent_id"))
    op.drop_table("canned_responses")
