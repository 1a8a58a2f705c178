"""Batches in lanes: claim-and-process task runs side by side until nothing is left to claim."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar


class Batch(Protocol):
    claimed: int


B = TypeVar("B", bound=Batch)


async def drain_in_lanes(run_batch: Callable[[int, int], Awaitable[B]], lanes: int) -> list[B]:
    """Call ``run_batch(lane, batch_no)`` in ``lanes`` loops until a batch claims nothing.

    Lanes keep one slow item from holding up the rest: while one batch waits on it, the other lanes
    go on claiming.
    """

    async def lane(number: int) -> list[B]:
        results: list[B] = []
        while True:
            result = await run_batch(number, len(results) + 1)
            results.append(result)
            if result.claimed == 0:
                return results

    per_lane = await asyncio.gather(*(lane(number) for number in range(1, lanes + 1)))
    return [result for results in per_lane for result in results]
