"""The shared limiter: uses counted per (service, account, action) and window, in the database, so a
limit holds across concurrent runs, processes and machines. Never commits: the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, String, and_, case, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.pacing import LimitKey, Reservation, Window, check_windows, grant
from db.base import Base, UTCDateTime, upsert_insert, utcnow

FORGET_AFTER = 300  # seconds an ended window is kept


class LimitWindow(Base):
    """Uses counted in one window (``seconds`` long, starting at ``starts``, Unix seconds) of a key."""

    __tablename__ = "rate_limit_windows"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    seconds: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    starts: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(Integer, default=0)


class SeenLimit(Base):
    """A limit an outside service reports in its answers' headers (limit, remaining, reset), as last
    seen by any worker: every worker waits for the reset once one has seen it spent."""

    __tablename__ = "rate_limits_seen"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    reset_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _of(key: LimitKey) -> ColumnElement[bool]:
    return and_(
        LimitWindow.service == key.service,
        LimitWindow.account == key.account,
        LimitWindow.action == key.action,
    )


def reserve(
    session: Session, *, key: LimitKey, windows: Sequence[Window], wanted: int, now: datetime | None = None
) -> Reservation:
    """Reserve up to ``wanted`` uses of ``key`` that fit in every one of ``windows`` now.

    Atomic against every other reservation: the current window rows are inserted (a write, which
    takes SQLite's write lock for the rest of the transaction) and locked in one order with
    ``FOR UPDATE`` on PostgreSQL before they are read and counted up. Windows that ended over
    ``FORGET_AFTER`` ago are deleted whenever a new one begins (not at once: a reservation whose
    clock was read before another's, and that waited for the lock, may still count in the old one).
    """
    check_windows(windows)
    timestamp = (now or utcnow()).timestamp()
    current = {window.seconds: window.start(timestamp) for window in windows}
    names = _names(key)
    rows = [names | {"seconds": seconds, "starts": starts, "used": 0} for seconds, starts in current.items()]
    if session.execute(upsert_insert(session, LimitWindow).values(rows).on_conflict_do_nothing()).rowcount:
        forgotten = LimitWindow.starts + LimitWindow.seconds + FORGET_AFTER <= int(timestamp)
        ended = delete(LimitWindow).where(_of(key), forgotten)
        session.execute(ended.execution_options(synchronize_session=False))
    these = and_(
        _of(key),
        or_(*(and_(LimitWindow.seconds == s, LimitWindow.starts == start) for s, start in current.items())),
    )
    locked = select(LimitWindow.seconds, LimitWindow.used).where(these).order_by(LimitWindow.seconds)
    used = {seconds: count for seconds, count in session.execute(locked.with_for_update())}
    reservation = grant(windows, used, wanted, timestamp)
    if reservation.granted:
        session.execute(
            update(LimitWindow)
            .where(these)
            .values(used=LimitWindow.used + reservation.granted)
            .execution_options(synchronize_session=False)
        )
    return reservation


def used_now(
    session: Session, *, key: LimitKey, windows: Sequence[Window], now: datetime | None = None
) -> dict[int, int]:
    """Uses of ``key`` counted so far in the current window of each of ``windows``' lengths."""
    timestamp = (now or utcnow()).timestamp()
    starts = {window.seconds: window.start(timestamp) for window in windows}
    rows = session.execute(
        select(LimitWindow.seconds, LimitWindow.used).where(
            _of(key),
            or_(
                *(and_(LimitWindow.seconds == s, LimitWindow.starts == start) for s, start in starts.items())
            ),
        )
    )
    return {seconds: 0 for seconds in starts} | dict(rows.tuples().all())


def saw_limit(
    session: Session,
    *,
    key: LimitKey,
    limit: int,
    remaining: int,
    reset_at: datetime,
    now: datetime | None = None,
) -> None:
    """Keep what a service's headers said. For the same window (the same reset) the lowest remaining
    wins, whatever order answers from several workers arrive in; a later window replaces an earlier."""
    now = now or utcnow()
    row = {
        **_names(key),
        "limit": limit,
        "remaining": max(0, remaining),
        "reset_at": reset_at,
        "seen_at": now,
    }
    statement = upsert_insert(session, SeenLimit).values(row)
    new = statement.excluded
    later_window = new.reset_at > SeenLimit.reset_at
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["service", "account", "action"],
            set_={
                "limit": new.limit,
                "remaining": case(
                    (later_window, new.remaining),
                    (new.remaining < SeenLimit.remaining, new.remaining),
                    else_=SeenLimit.remaining,
                ),
                "reset_at": case((later_window, new.reset_at), else_=SeenLimit.reset_at),
                "seen_at": new.seen_at,
            },
        )
    )


def wait_until(session: Session, *, key: LimitKey, now: datetime | None = None) -> datetime | None:
    """When ``key`` may be used again if the service said it is spent (its reset), else None."""
    now = now or utcnow()
    seen = session.get(SeenLimit, (key.service, key.account, key.action))
    if seen is None or seen.remaining > 0 or seen.reset_at <= now:
        return None
    return seen.reset_at


def _names(key: LimitKey) -> dict[str, str]:
    return {"service": key.service, "account": key.account, "action": key.action}
