"""Job rows: the columns every queued item has, and the transitions every domain's claims share.

A domain's model mixes in ``JobColumns`` and adds its own ``status`` (a StrEnum column); its one
status-transition function calls ``transition`` here, and so do ``claim`` and ``fail_abandoned``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Text, and_, func, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.base import UTCDateTime, utcnow
from db.claims import Lease, claim_ids, claim_values


class JobColumns:
    """Times, the claim (lease end and owner), attempts and the last error of a job-like row."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def transition(
    session: Session,
    model: type[Any],
    *,
    where: ColumnElement[bool],
    to: StrEnum,
    from_: Sequence[StrEnum],
    terminal: bool,
    now: datetime,
    **values: Any,
) -> int:
    """Move the rows matching ``where`` from one of ``from_`` to ``to`` in one conditional UPDATE.

    A terminal status stamps ``finished_at`` and releases the claim. Returns how many rows moved.
    """
    if terminal:
        values = {"finished_at": now, "claimed_until": None, "claimed_by": None} | values
    result = session.execute(
        update(model)
        .where(where, model.status.in_(list(from_)))
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def claim(
    session: Session,
    model: type[Any],
    *,
    claimable: ColumnElement[bool],
    working: StrEnum,
    lease: Lease,
    limit: int,
    now: datetime | None = None,
) -> list[int]:
    """Claim up to ``limit`` claimable rows for ``lease``: status ``working``, one more attempt, started
    (the first time) now. Returns their ids."""
    now = now or utcnow()
    return claim_ids(
        session,
        id_column=model.id,
        claimable=claimable,
        values={
            "status": working,
            "attempts": model.attempts + 1,
            "started_at": func.coalesce(model.started_at, now),
            **claim_values(lease, now),
        },
        limit=limit,
    )


def lease_lapsed(model: type[Any], working: Sequence[StrEnum], now: datetime) -> ColumnElement[bool]:
    """Rows in a working status whose claim has run out: their worker is gone."""
    return and_(model.status.in_(list(working)), model.claimed_until < now)


def fail_abandoned(
    session: Session,
    model: type[Any],
    *,
    working: Sequence[StrEnum],
    failed: StrEnum,
    max_attempts: int,
    error: str,
    now: datetime | None = None,
) -> int:
    """Fail rows whose lease lapsed after ``max_attempts`` claims (their workers keep getting lost)."""
    now = now or utcnow()
    return transition(
        session,
        model,
        where=and_(lease_lapsed(model, working, now), model.attempts >= max_attempts),
        to=failed,
        from_=working,
        terminal=True,
        now=now,
        last_error=error,
    )
