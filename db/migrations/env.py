"""Alembic environment. db.migrate hands over an open connection; the URL is the fallback."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, create_engine, pool

import db.models  # noqa: F401  (registers every table on Base.metadata)
from db.base import Base, UTCDateTime

config = context.config


def render_item(kind: str, item: Any, autogen_context: Any) -> str | Literal[False]:
    """Write UTCDateTime columns as plain timezone-aware DateTime: the database sees no difference."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with create_engine(
        config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool
    ).connect() as connection:
        run(connection)
