"""Atomic claims with a lease and an owner: two workers never hold the same row, a dead worker's rows
come back when its lease lapses, and a live worker keeps its rows by renewing the lease."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


@dataclass(frozen=True)
class Lease:
    """Who holds claimed rows, and for how long each claim or renewal holds them."""

    seconds: float
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)


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


def claim_values(lease: Lease, now: datetime) -> dict[str, Any]:
    """The columns every claim sets: the lease's end and its owner."""
    return {"claimed_until": lease.until(now), "claimed_by": lease.owner}


def renew_claims(
    session: Session,
    *,
    id_column: InstrumentedAttribute[int],
    held: ColumnElement[bool],
    ids: Sequence[int],
    lease: Lease,
    now: datetime,
) -> set[int]:
    """Extend the lease on those of ``ids`` this owner still holds (``held``: still in a working status);
    returns them. A row missing from the answer was lost (recorded, or re-claimed after a lapse): its
    work must not start."""
    if not ids:
        return set()
    model = id_column.class_
    statement = (
        update(model)
        .where(id_column.in_(list(ids)), model.claimed_by == lease.owner, held)
        .values(claimed_until=lease.until(now))
        .returning(id_column)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(statement))
