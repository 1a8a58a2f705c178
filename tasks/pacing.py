"""A pacer over the shared database limiter, for the task runs of any domain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.pacing import LimitKey, Pacer, Reservation, Window, check_windows
from db import limits
from db.engine import session_factory


def shared_pacer(key: LimitKey, windows: Sequence[Window], *, chunk: int = 1) -> Pacer:
    """A pacer spending ``key``'s uses under ``windows``, counted in the database across every run.

    A ``chunk`` over 1 reserves that many at a time (fewer round trips at many uses per second);
    keep 1 where windows are long, so one run never sits on another's share.
    """
    check_windows(windows)
    sessions = session_factory()

    def reserve(wanted: int) -> Reservation:
        with sessions.begin() as session:
            return limits.reserve(session, key=key, windows=windows, wanted=wanted)

    return Pacer(lambda wanted: asyncio.to_thread(reserve, wanted), chunk=chunk)
