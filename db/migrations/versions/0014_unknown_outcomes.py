"""messages: unknown_outcomes, the tries whose outcome was unknown (sent, then no answer)

A read timeout or a lost connection after a send leaves its outcome unknown: the message is tried
again, and that retry is the only send that may reach the gateway twice. The count per message
makes those retries visible in a mailing's statistics.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("unknown_outcomes", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_messages_unknown_outcomes",
        "messages",
        ["mailing_id", "unknown_outcomes"],
        postgresql_where=sa.text("unknown_outcomes > 0"),
        sqlite_where=sa.text("unknown_outcomes > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unknown_outcomes", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("unknown_outcomes")
