"""How far a piece of work got, in one place for every domain."""

from __future__ import annotations


def share(done: int, total: int) -> float:
    """The finished share of ``total`` items, from 0.0 to 1.0; nothing to do counts as all done."""
    if total <= 0:
        return 1.0
    return min(max(done / total, 0.0), 1.0)
