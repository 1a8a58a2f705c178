"""Batches in lanes: claim-and-process task runs side by side until nothing is left to claim."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar


class Batch(Protocol):
    claimed: int


B = TypeVar("B", bound=Batch)


async def drain_in_lanes(
    run_batch: Callable[[int, int], Awaitable[B]], lanes: int, *, total: int | None = None, held: int = 0
) -> list[B]:
    """Call ``run_batch(lane, batch_no)`` in ``lanes`` loops until a batch claims nothing, or until the
    lanes have claimed ``total`` items together (all there is: no batch is run just to find nothing).
    ``held``: items claimed before the lanes start, for their first batches (which report them):
    counted from the start, so a lane whose first batch ends first does not look for more when those
    were all there is.

    Lanes keep one slow item from holding up the rest: while one batch waits on it, the other lanes
    go on claiming.
    """
    claimed = held

    async def lane(number: int) -> list[B]:
        nonlocal claimed
        results: list[B] = []
        while (held and not results) or total is None or claimed < total:  # a held first batch runs
            result = await run_batch(number, len(results) + 1)
            results.append(result)
            if not held or len(results) > 1:  # a first batch's items are counted in ``held``
                claimed += result.claimed
            if result.claimed == 0:
                break
        return results

    per_lane = await asyncio.gather(*(lane(number) for number in range(1, lanes + 1)))
    return [result for results in per_lane for result in results]
