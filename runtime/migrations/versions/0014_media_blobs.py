"""media kept in the database: media_blobs (key, tenant, type, size) and their bytes in
media_blob_chunks (1 MiB slices), for SCRM_MEDIA_STORE=database

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_blobs",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_media_blobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_media_blobs")),
    )
    with op.batch_alter_table("media_blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_blobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "media_blob_chunks",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key"],
            ["media_blobs.key"],
            name=op.f("fk_media_blob_chunks_key_media_blobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "seq", name=op.f("pk_media_blob_chunks")),
    )


def downgrade() -> None:
    op.drop_table("media_blob_chunks")
    with op.batch_alter_table("media_blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_blobs_tenant_id"))
    op.drop_table("media_blobs")
