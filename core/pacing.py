"""Rate limits as windows, and a pacer that spends permits reserved from a shared limiter.

Pure and Prefect-free: the windows' arithmetic lives here, the shared counts in ``db/limits.py``,
and ``tasks/pacing.py`` joins the two for a task run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitKey:
    """Whose limit: an outside service, an account on it ("" for the whole service), an action."""

    service: str
    account: str = ""
    action: str = ""


@dataclass(frozen=True)
class Window:
    """At most ``limit`` uses in each window of ``seconds``, windows aligned to the Unix epoch
    ("57 per hour" is ``Window(57, 3600)``, "300 per 3 hours" ``Window(300, 10800)``)."""

    limit: int
    seconds: int

    def __post_init__(self) -> None:
        if self.limit < 0 or self.seconds < 1:
            raise ValueError(f"a window needs a limit ≥ 0 and a length ≥ 1 s: {self}")

    def start(self, timestamp: float) -> int:
        """The start (Unix seconds) of the window holding ``timestamp``."""
        return int(timestamp // self.seconds) * self.seconds


def check_windows(windows: Sequence[Window]) -> None:
    """At least one window, no two of the same length."""
    if not windows:
        raise ValueError("a limit needs at least one window")
    lengths = [window.seconds for window in windows]
    if len(set(lengths)) != len(lengths):
        raise ValueError(f"two windows of the same length: {lengths}")


@dataclass(frozen=True)
class Reservation:
    """Permits granted by the limiter; ``valid_until`` (Unix seconds) ends the shortest window they
    were counted in, and ``retry_at`` says when to ask again if fewer than wanted were granted."""

    granted: int
    valid_until: float
    retry_at: float | None = None


def grant(windows: Sequence[Window], used: Mapping[int, int], wanted: int, timestamp: float) -> Reservation:
    """How many of ``wanted`` uses fit in every window at once, given the uses counted so far in the
    current window of each length (``used`` by window length)."""
    room = min(window.limit - used.get(window.seconds, 0) for window in windows)
    granted = max(0, min(wanted, room))
    ends = {window.seconds: window.start(timestamp) + window.seconds for window in windows}
    full = [
        ends[window.seconds]
        for window in windows
        if window.limit - used.get(window.seconds, 0) - granted <= 0
    ]
    retry_at = max(full) if granted < wanted and full else None
    return Reservation(granted=granted, valid_until=min(ends.values()), retry_at=retry_at)


class Pacer:
    """Hands out one permit at a time from a shared limiter, reserving ``chunk`` at once.

    Permits left over when the shortest window they were counted in ends are dropped, never carried
    into the next window (where they would exceed its limit). Waits when the limiter grants none.
    """

    def __init__(
        self,
        reserve: Callable[[int], Awaitable[Reservation]],
        *,
        chunk: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reserve = reserve
        self._chunk = max(1, chunk)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._left = 0
        self._valid_until = 0.0

    async def acquire(self) -> None:
        """Wait until one use may happen."""
        async with self._lock:
            while self._left == 0 or self._clock() >= self._valid_until:
                reservation = await self._reserve(self._chunk)
                self._left, self._valid_until = reservation.granted, reservation.valid_until
                if reservation.granted == 0:
                    until = reservation.retry_at or reservation.valid_until
                    await asyncio.sleep(max(0.0, until - self._clock()))
            self._left -= 1
