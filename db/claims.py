"""Atomic claims with a lease: two workers never hold the same row, and a dead worker's rows come back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


def claim_ids(
    session: Session,
    *,
    id_column: InstrumentedAttribute[int],
    claimable: ColumnElement[bool],
    values: dict[str, Any],
    limit: int,
) -> list[int]:
    """Set ``values`` on up to ``limit`` claimable rows in one statement and return their ids.

    PostgreSQL locks the chosen rows with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass
    each other by; SQLite runs the single UPDATE under its write lock. The choice is a MATERIALIZED
    CTE: as a plain ``IN (subquery)`` PostgreSQL may run the LIMIT subquery again per row and take
    more than ``limit``. The claimable condition is checked again by the UPDATE itself.
    """
    model = id_column.class_
    chosen = select(id_column.label("id")).where(claimable).order_by(id_column).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    chosen_cte = chosen.cte("chosen").prefix_with("MATERIALIZED")
    statement = (
        update(model)
        .where(id_column.in_(select(chosen_cte.c.id)), claimable)
        .values(**values)
        .returning(id_column)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement))
