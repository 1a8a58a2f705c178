"""Opening many connections to one host without overflowing its listen queue.

A server with a short listen backlog (Python's socketserver, http.server included: 5) drops the
connects of a burst it cannot accept at once, and the kernel sends each again only after 1 s, 3 s,
7 s… A burst of a few hundred connects then spreads over tens of seconds: 1,000 pages at 100 ms from
a ThreadingHTTPServer took 11.8 s with 200 connections and 23.9 s with 500.

``paced_connect`` opens a connection through a host's ``HostPacer``. A host is not paced until a
connect to it stalls: still waiting after 20 times the quickest connect to the same host (at least
50 ms, at most 0.75 s: before the kernel's first resend). The stalled connect is abandoned and started
again, and from then on the host's connects start one per interval (1 ms, doubled at each further
stall of a paced connect, up to 100 ms). A host never seen to connect within a fifth of a second (far
away, behind TLS) is never cut short: its connects wait as the kernel and the connect timeout decide.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

STALL_FACTOR = 20  # a connect waiting this many times the host's quickest one has stalled…
MIN_STALL = 0.05  # …but not before this many seconds…
MAX_STALL = 0.75  # …and by this, before the kernel's first resend of a dropped connect (1 s)
FAST_CONNECT = 0.2  # a host that never connected this quickly is never cut short
FIRST_INTERVAL = 0.001
MAX_INTERVAL = 0.1
RESTARTS = 8  # the last start waits as long as the connect timeout allows


class HostPacer:
    """How fast new connections to one host may start."""

    def __init__(self) -> None:
        self.interval = 0.0  # seconds between starts; 0 until a connect stalls
        self.fastest = math.inf  # the quickest connect to the host so far (seconds)
        self._next_start = 0.0

    async def turn(self) -> float:
        """Wait for this connect's turn to start; return the interval it started under."""
        interval = self.interval
        if interval:
            loop = asyncio.get_running_loop()
            now = loop.time()
            start = max(now, self._next_start)
            self._next_start = start + interval
            if start > now:
                await asyncio.sleep(start - now)
        return interval

    def stalls_after(self) -> float | None:
        """How long a connect may wait before it counts as stalled; None while none was quick."""
        if self.fastest >= FAST_CONNECT:
            return None
        return min(MAX_STALL, max(MIN_STALL, STALL_FACTOR * self.fastest))

    def stalled(self, started_under: float) -> None:
        """A connect started under ``started_under`` stalled: slow the host's starts down, once for
        all the connects that started under the same interval."""
        if self.interval == started_under:
            self.interval = min(MAX_INTERVAL, self.interval * 2 if self.interval else FIRST_INTERVAL)


async def paced_connect(pacer: HostPacer, connect: Callable[[], Awaitable[T]]) -> T:
    """``connect()`` in the host's turn, started again (in turn) while it stalls (module docstring).

    Watched by a timer, in the caller's task: a task and a wait for each connect measured ~5% of the
    pages' rate at 500 connects at once."""
    loop = asyncio.get_running_loop()
    restarts = 0
    while True:
        interval = await pacer.turn()
        started = loop.time()
        if restarts < RESTARTS:
            cut = asyncio.timeout(None)
            watch = _Watch(pacer, cut, started)
            try:
                async with cut:
                    result = await connect()
            except TimeoutError:
                if not cut.expired():
                    raise  # the connect's own timeout
                pacer.stalled(interval)
                restarts += 1
                continue
            finally:
                watch.stop()
        else:
            result = await connect()
        pacer.fastest = min(pacer.fastest, loop.time() - started)
        return result


class _Watch:
    """Looks at a connect every ``MIN_STALL`` seconds until its host's stall time is known, then sets
    its ``cut`` to expire then."""

    def __init__(self, pacer: HostPacer, cut: asyncio.Timeout, started: float) -> None:
        self._pacer, self._cut, self._started = pacer, cut, started
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(MIN_STALL, self._look)

    def _look(self) -> None:
        stalls_after = self._pacer.stalls_after()
        if stalls_after is None:
            self._timer = self._loop.call_later(MIN_STALL, self._look)
        else:
            self._cut.reschedule(max(self._loop.time(), self._started + stalls_after))

    def stop(self) -> None:
        self._timer.cancel()
