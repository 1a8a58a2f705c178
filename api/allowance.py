"""Each API key's requests a minute, counted in the database by the kit's limiter so the limit holds
across every worker, but reserved in small blocks: a process takes a block of uses of the current
window at once and spends it in memory, so most requests write nothing (one reservation per request
was a write transaction each, and on SQLite every request queued behind the others' writes).

A block is ``limit // BLOCKS_PER_WINDOW`` uses (at least 1), so the limit is never exceeded; what a
process reserved and did not spend by the window's end is lost, so with several workers a key may be
refused up to a block per worker early. With a small limit every use is its own block (exact).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from core.pacing import LimitKey, Window
from core.settings import get_settings
from db.engine import session_factory
from db.limits import reserve

BLOCKS_PER_WINDOW = 50
WINDOW_SECONDS = 60


@dataclass
class _Block:
    left: int
    valid_until: float  # Unix seconds: the end of the window it was reserved in


@dataclass(frozen=True)
class Decision:
    granted: bool
    retry_at: float | None = None  # Unix seconds, when refused


class Allowances:
    """The blocks this process holds, per database, API key and limit (a changed limit starts anew)."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[str, int, int], _Block] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int, limit: int) -> Decision:
        """One request of ``key_id``, within ``limit`` a minute across every process."""
        which = (get_settings().database_url, key_id, limit)
        with self._lock:
            block = self._blocks.get(which)
            if block is not None and block.left > 0 and time.time() < block.valid_until:
                block.left -= 1
                return Decision(True)
            wanted = max(1, limit // BLOCKS_PER_WINDOW)
            with session_factory().begin() as session:
                reservation = reserve(
                    session,
                    key=LimitKey("api", str(key_id), "requests"),
                    windows=[Window(limit, WINDOW_SECONDS)],
                    wanted=wanted,
                )
            if not reservation.granted:
                self._blocks.pop(which, None)
                return Decision(False, reservation.retry_at or reservation.valid_until)
            self._blocks[which] = _Block(reservation.granted - 1, reservation.valid_until)
            return Decision(True)


ALLOWANCES = Allowances()
