"""messages: ix_messages_new, the new messages of a mailing in id order (the claim's index)

A claim takes the first new messages of a mailing by id. Without this index PostgreSQL read every
message sent before them at each claim (or, on statistics older than the mailing, joined every
unsent message to the claim one by one); with it a claim reads about the messages it takes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_new",
        "messages",
        ["mailing_id", "id"],
        postgresql_where=sa.text("status = 'new'"),
        sqlite_where=sa.text("status = 'new'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_new", table_name="messages")
