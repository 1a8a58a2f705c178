"""job rows: the claim's owner on every queued table, one name for the last error

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("page_jobs") as batch:
        batch.alter_column("error", new_column_name="last_error")
        batch.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))
    with op.batch_alter_table("brief_jobs") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("brief_jobs") as batch:
        batch.drop_column("claimed_by")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("started_at")
    with op.batch_alter_table("page_jobs") as batch:
        batch.drop_column("claimed_by")
        batch.alter_column("last_error", new_column_name="error")
