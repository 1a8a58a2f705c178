"""The shared limiter: uses counted per (service, account, action) and window, in the database, so a
limit holds across concurrent runs, processes and machines. Never commits: the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, String, and_, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.pacing import LimitKey, Reservation, Window, check_windows, grant
from db.base import Base, upsert_insert, utcnow

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
    names = {"service": key.service, "account": key.account, "action": key.action}
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
