"""rich messages: reactions kept on the message they react to; the Click-to-WhatsApp ad
referral a conversation started from

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("reactions", sa.JSON(), nullable=True))
    op.add_column("conversations", sa.Column("referral", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("referral")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reactions")
