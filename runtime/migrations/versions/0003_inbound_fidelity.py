"""inbound fidelity: per-conversation message order, ingest errors, business-scoped user ids,
pricing, template quality, account updates

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Existing messages are numbered in the order the inbox showed them (created_at, then id).
_NUMBER_MESSAGES = """
UPDATE messages SET conversation_seq = (
    SELECT numbered.seq FROM (
        SELECT id, ROW_NUMBER() OVER (
            PARTITION BY conversation_id ORDER BY created_at, id
        ) AS seq FROM messages
    ) AS numbered WHERE numbered.id = messages.id
)
"""
_COUNT_MESSAGES = """
UPDATE conversations SET message_seq = (
    SELECT COALESCE(MAX(conversation_seq), 0) FROM messages
    WHERE messages.conversation_id = conversations.id
)
"""


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(
            sa.Column("message_seq", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("conversation_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pricing", sa.JSON(), nullable=True))
    op.execute(_NUMBER_MESSAGES)
    op.execute(_COUNT_MESSAGES)
    with op.batch_alter_table("messages") as batch_op:
        batch_op.alter_column("conversation_seq", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ix_messages_conversation_created")
        batch_op.create_unique_constraint(
            batch_op.f("uq_messages_conversation_id_conversation_seq"),
            ["conversation_id", "conversation_seq"],
        )

    with op.batch_alter_table("contacts") as batch_op:
        batch_op.alter_column("phone", existing_type=sa.String(length=20), nullable=True)
        batch_op.add_column(sa.Column("wa_user_id", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_contacts_tenant_id_wa_user_id"), ["tenant_id", "wa_user_id"]
        )

    with op.batch_alter_table("templates") as batch_op:
        batch_op.add_column(sa.Column("quality_score", sa.String(length=20), nullable=True))
    with op.batch_alter_table("senders") as batch_op:
        batch_op.add_column(sa.Column("account_update", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("templates_sync_requested_at", sa.DateTime(timezone=True), nullable=True)
        )

    op.create_table(
        "ingest_errors",
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=True),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("excerpt", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ingest_errors_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_errors")),
    )
    with op.batch_alter_table("ingest_errors") as batch_op:
        batch_op.create_index("ix_ingest_errors_tenant_created", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("ingest_errors")
    with op.batch_alter_table("senders") as batch_op:
        batch_op.drop_column("templates_sync_requested_at")
        batch_op.drop_column("account_update")
    with op.batch_alter_table("templates") as batch_op:
        batch_op.drop_column("quality_score")
    # Contacts known only by their business-scoped user id cannot exist without a phone.
    op.execute("DELETE FROM contacts WHERE phone IS NULL")
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_contacts_tenant_id_wa_user_id"), type_="unique")
        batch_op.drop_column("wa_user_id")
        batch_op.alter_column("phone", existing_type=sa.String(length=20), nullable=False)
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_messages_conversation_id_conversation_seq"), type_="unique"
        )
        batch_op.create_index(
            "ix_messages_conversation_created", ["conversation_id", "created_at"], unique=False
        )
        batch_op.drop_column("pricing")
        batch_op.drop_column("conversation_seq")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("message_seq")
