"""Atomic claims with a lease and an owner: two workers never hold the same row, a dead worker's rows
come back when its lease lapses, and a live worker keeps its rows by renewing the lease.

An owner claimed in a flow run starts with the run's id (its first ``RUN_PREFIX`` hex digits), so the
claims of a run Prefect marked Crashed can be given back at once (``expire_claims_of``) instead of
after their lease: the run's process is gone, no renewal or outcome of it will come.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, any_, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.base import Base

RUN_PREFIX = 16  # hex digits of the flow run id an owner starts with; 16 random ones follow


@dataclass(frozen=True)
class Lease:
    """Who holds claimed rows, and for how long each claim or renewal holds them."""

    seconds: float
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)

    @classmethod
    def for_run(cls, seconds: float, run_id: uuid.UUID | str | None) -> Lease:
        """A lease whose owner names the flow run holding it (a plain random owner outside a run)."""
        if run_id is None:
            return cls(seconds=seconds)
        return cls(seconds=seconds, owner=run_prefix(run_id) + uuid.uuid4().hex[RUN_PREFIX:])


def run_prefix(run_id: uuid.UUID | str) -> str:
    """How the owners of a flow run's leases begin."""
    return uuid.UUID(str(run_id)).hex[:RUN_PREFIX]


def claim_ids(
    session: Session,
    *,
    id_column: InstrumentedAttribute[int],
    claimable: ColumnElement[bool],
    values: dict[str, Any],
    limit: int,
) -> list[int]:
    """Set ``values`` on up to ``limit`` claimable rows in one statement and return their ids.

    The choice is a MATERIALIZED CTE: as a plain ``IN (subquery)`` PostgreSQL may run the LIMIT
    subquery again per row and take more than ``limit``. PostgreSQL locks the chosen rows with
    ``FOR UPDATE SKIP LOCKED`` (concurrent claimers pass each other by; a row changed meanwhile is
    checked again as it is locked), so the UPDATE finds them by primary key alone: with the
    claimable condition repeated there, the planner, on statistics older than the rows (a mailing
    just created), joined the CTE to every claimable row one by one (2.5 s for 250 of 10,000).
    SQLite runs the single UPDATE under its write lock and checks the condition again.
    """
    model = id_column.class_
    chosen = select(id_column.label("id")).where(claimable).order_by(id_column).limit(limit)
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        chosen = chosen.with_for_update(skip_locked=True)
    chosen_cte = chosen.cte("chosen").prefix_with("MATERIALIZED")
    if postgresql:
        target = id_column == any_(func.array(select(chosen_cte.c.id).scalar_subquery()))
    else:
        target = and_(id_column.in_(select(chosen_cte.c.id)), claimable)
    statement = (
        update(model)
        .where(target)
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


def claim_tables() -> list[Table]:
    """Every table whose rows are claimed with a lease (they have ``claimed_by`` and ``claimed_until``)."""
    import db.models  # noqa: F401  (every model registered on the metadata)

    return [
        table
        for table in Base.metadata.sorted_tables
        if {"claimed_by", "claimed_until"} <= set(table.columns.keys())
    ]


def live_owner_prefixes(session: Session, *, now: datetime) -> set[str]:
    """The run prefixes of every owner holding a claim that has not lapsed, in every claim table."""
    prefixes: set[str] = set()
    for table in claim_tables():
        prefix = func.substr(table.c.claimed_by, 1, RUN_PREFIX)
        prefixes.update(
            session.scalars(
                select(prefix).where(table.c.claimed_until > now, table.c.claimed_by.is_not(None)).distinct()
            )
        )
    return prefixes


def expire_claims_of(session: Session, *, prefixes: Sequence[str], now: datetime) -> int:
    """End now every live claim whose owner begins with one of ``prefixes`` (runs known dead), in every
    claim table; returns how many rows. They come back through each domain's own claim, exactly as
    when their lease lapses (their attempts count, give-up limits hold)."""
    if not prefixes:
        return 0
    expired = 0
    for table in claim_tables():
        owned = or_(*(table.c.claimed_by.startswith(prefix, autoescape=True) for prefix in prefixes))
        result = session.execute(
            update(table).where(table.c.claimed_until > now, owned).values(claimed_until=now)
        )
        expired += result.rowcount
    return expired
