"""durable send queue, shared send limits, portfolio recipient budget

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_queue",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("business_initiated", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_reason", sa.String(length=40), nullable=True),
        sa.Column("deferrals", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_send_queue_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["senders.id"],
            name=op.f("fk_send_queue_sender_id_senders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_send_queue_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_send_queue")),
    )
    op.create_index("ix_send_queue_due", "send_queue", ["state", "sender_id", "not_before"])
    op.create_index(op.f("ix_send_queue_tenant_id"), "send_queue", ["tenant_id"])
    op.create_table(
        "send_pacing",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("backoff_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_pacing")),
    )
    op.create_table(
        "recipient_budget",
        sa.Column("portfolio", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portfolio", "recipient", name=op.f("pk_recipient_budget")),
    )
    op.create_index(op.f("ix_recipient_budget_sent_at"), "recipient_budget", ["sent_at"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("not_confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resend_of_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("resend_of_id")
        batch.drop_column("not_confirmed_at")
    op.drop_index(op.f("ix_recipient_budget_sent_at"), table_name="recipient_budget")
    op.drop_table("recipient_budget")
    op.drop_table("send_pacing")
    op.drop_index(op.f("ix_send_queue_tenant_id"), table_name="send_queue")
    op.drop_index("ix_send_queue_due", table_name="send_queue")
    op.drop_table("send_queue")
