"""briefs: the job columns' one name for when a row was made (submitted_at -> created_at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_brief_jobs_submitted_at", table_name="brief_jobs")
    with op.batch_alter_table("brief_jobs") as batch:
        batch.alter_column("submitted_at", new_column_name="created_at")
    op.create_index("ix_brief_jobs_created_at", "brief_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_brief_jobs_created_at", table_name="brief_jobs")
    with op.batch_alter_table("brief_jobs") as batch:
        batch.alter_column("created_at", new_column_name="submitted_at")
    op.create_index("ix_brief_jobs_submitted_at", "brief_jobs", ["submitted_at"])
