"""sender health: health state and Meta's phone-number fields on senders, alerts, the
tenant's alert webhook, failover switches

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:23:36
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.migrations.permission_grants import (
    CATALOGUE_0004,
    grant_new_permissions,
    revoke_permissions,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PERMISSIONS = ("alerts:read", "alerts:write")
# The catalogue before this revision (0005 added the consent permissions).
_CATALOGUE_0006 = CATALOGUE_0004 | {"consent:read", "consent:write"}


def upgrade() -> None:
    op.create_table(
        "alert_webhooks",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret_encrypted", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_alert_webhooks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_alert_webhooks")),
    )
    op.create_table(
        "sender_alerts",
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("previous", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("deliver_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_error", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["senders.id"],
            name=op.f("fk_sender_alerts_sender_id_senders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sender_alerts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_alerts")),
    )
    with op.batch_alter_table("sender_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sender_alerts_delivery", ["delivery", "deliver_after"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sender_alerts_sender_id"), ["sender_id"], unique=False)
        batch_op.create_index(
            "ix_sender_alerts_tenant_created", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sender_alerts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sender_switches",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("from_conversation_id", sa.Uuid(), nullable=False),
        sa.Column("to_conversation_id", sa.Uuid(), nullable=False),
        sa.Column("from_sender_id", sa.Uuid(), nullable=False),
        sa.Column("to_sender_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_sender_switches_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_conversation_id"],
            ["conversations.id"],
            name=op.f("fk_sender_switches_from_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_sender_id"],
            ["senders.id"],
            name=op.f("fk_sender_switches_from_sender_id_senders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_sender_switches_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sender_switches_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_conversation_id"],
            ["conversations.id"],
            name=op.f("fk_sender_switches_to_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_sender_id"],
            ["senders.id"],
            name=op.f("fk_sender_switches_to_sender_id_senders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_switches")),
    )
    with op.batch_alter_table("sender_switches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sender_switches_from", ["from_conversation_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sender_switches_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_sender_switches_to", ["to_conversation_id", "created_at"], unique=False
        )

    with op.batch_alter_table("senders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("health", sa.String(length=20), nullable=False, server_default="ok")
        )
        batch_op.add_column(sa.Column("health_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("health_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("number_status", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("name_status", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("throughput_level", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("health_polled_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("poll_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
    grant_new_permissions(op.get_bind(), catalogue_before=_CATALOGUE_0006, new=NEW_PERMISSIONS)


def downgrade() -> None:
    revoke_permissions(op.get_bind(), NEW_PERMISSIONS)
    with op.batch_alter_table("senders", schema=None) as batch_op:
        batch_op.drop_column("poll_requested_at")
        batch_op.drop_column("health_polled_at")
        batch_op.drop_column("throughput_level")
        batch_op.drop_column("name_status")
        batch_op.drop_column("number_status")
        batch_op.drop_column("health_changed_at")
        batch_op.drop_column("health_reason")
        batch_op.drop_column("health")

    with op.batch_alter_table("sender_switches", schema=None) as batch_op:
        batch_op.drop_index("ix_sender_switches_to")
        batch_op.drop_index(batch_op.f("ix_sender_switches_tenant_id"))
        batch_op.drop_index("ix_sender_switches_from")

    op.drop_table("sender_switches")
    with op.batch_alter_table("sender_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sender_alerts_tenant_id"))
        batch_op.drop_index("ix_sender_alerts_tenant_created")
        batch_op.drop_index(batch_op.f("ix_sender_alerts_sender_id"))
        batch_op.drop_index("ix_sender_alerts_delivery")

    op.drop_table("sender_alerts")
    op.drop_table("alert_webhooks")
