"""messages: an index on (mailing_id, status, sent_at) for a mailing's statistics

A mailing's counts by status, its problem messages and its sends per minute read only these
columns of its messages: with this index they are read from the index alone, not from the table
(GET /mailings/{id}/stats at 100k messages, bench/api.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_mailing_id_status_sent_at", "messages", ["mailing_id", "status", "sent_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_messages_mailing_id_status_sent_at", table_name="messages")
