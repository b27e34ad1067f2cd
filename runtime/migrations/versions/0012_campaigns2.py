"""campaigns2: messages.idempotency_key, unique per tenant (a campaign stores at most one
message per campaign and contact, however its rounds are retried); messages.sent_at,
delivered_at, read_at (the results' timeline); campaign_recipients
lighter to insert 100,000 at a time (foreign keys only to the campaign and the contact,
partial indexes over the columns NULL at launch, the due index ordered by contact too)

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_PARTIAL = {
    "ix_campaign_recipients_contact_queued": (["contact_id", "queued_at"], "queued_at"),
    "ix_campaign_recipients_sender_queued": (["sender_id", "queued_at"], "queued_at"),
    "ix_campaign_recipients_message_id": (["message_id"], "message_id"),
}
_DROPPED_KEYS = {
    "fk_campaign_recipients_tenant_id_tenants": ("tenant_id", "tenants", "CASCADE"),
    "fk_campaign_recipients_sender_id_senders": ("sender_id", "senders", "SET NULL"),
    "fk_campaign_recipients_message_id_messages": ("message_id", "messages", "SET NULL"),
}
_DUE = "ix_campaign_recipients_due"
_STATUS_TIMES = ("sent_at", "delivered_at", "read_at")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=120), nullable=True))
        for column in _STATUS_TIMES:
            batch.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ux_messages_idempotency_key",
        "messages",
        ["tenant_id", "idempotency_key"],
        unique=True,
    )
    with op.batch_alter_table("campaign_recipients") as batch:
        for name in _DROPPED_KEYS:
            batch.drop_constraint(name, type_="foreignkey")
        for name in (*_PARTIAL, _DUE, "ix_campaign_recipients_tenant_id"):
            batch.drop_index(name)
    for name, (columns, not_null) in _PARTIAL.items():
        where = sa.text(f"{not_null} IS NOT NULL")
        op.create_index(
            name, "campaign_recipients", columns, postgresql_where=where, sqlite_where=where
        )
    op.create_index(
        _DUE, "campaign_recipients", ["campaign_id", "state", "not_before", "contact_id"]
    )


def downgrade() -> None:
    for name in (*_PARTIAL, _DUE):
        op.drop_index(name, table_name="campaign_recipients")
    with op.batch_alter_table("campaign_recipients") as batch:
        for name, (columns, _) in _PARTIAL.items():
            batch.create_index(name, columns)
        batch.create_index(_DUE, ["campaign_id", "state", "not_before"])
        batch.create_index("ix_campaign_recipients_tenant_id", ["tenant_id"])
        for name, (column, table, ondelete) in _DROPPED_KEYS.items():
            batch.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)
    op.drop_index("ux_messages_idempotency_key", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        for column in ("idempotency_key", *_STATUS_TIMES):
            batch.drop_column(column)
