"""channels: authorisations begun and not finished (state hashed, PKCE verifier encrypted), so a
browser's callback can finish one in another process

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_connects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_connects")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_channel_connects_state_hash")),
    )
    with op.batch_alter_table("channel_connects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_connects_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channel_connects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_connects_expires_at"))
    op.drop_table("channel_connects")
