"""flows.lanes: batches side by side until nothing is left to claim."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from flows.lanes import drain_in_lanes


@dataclass(frozen=True)
class Claimed:
    claimed: int


def batches_over(
    items: int, batch_size: int
) -> tuple[list[tuple[int, int]], Callable[[int, int], Awaitable[Claimed]]]:
    """A fake claim over ``items`` waiting items, and the (lane, batch_no) of every batch run."""
    runs: list[tuple[int, int]] = []
    left = items

    async def run_batch(lane: int, batch_no: int) -> Claimed:
        nonlocal left
        runs.append((lane, batch_no))
        taken = min(left, batch_size)
        left -= taken
        await asyncio.sleep(0)
        return Claimed(taken)

    return runs, run_batch


@pytest.mark.parametrize(("items", "batches"), [(1000, 2), (1001, 3), (1, 1), (0, 0)])
def test_lanes_stop_once_the_known_total_is_claimed(items: int, batches: int) -> None:
    runs, run_batch = batches_over(items, 500)
    results = asyncio.run(drain_in_lanes(run_batch, 2, total=items))
    assert sum(result.claimed for result in results) == items
    assert len([result for result in results if result.claimed]) == batches
    assert len(runs) <= batches + 1  # at most one lane finds nothing, when it started before the others ended


def test_without_a_total_each_lane_ends_on_an_empty_batch() -> None:
    _runs, run_batch = batches_over(1000, 500)
    results = asyncio.run(drain_in_lanes(run_batch, 2))
    assert [result.claimed for result in results].count(0) == 2
    assert sum(result.claimed for result in results) == 1000


def test_a_total_larger_than_what_is_claimable_still_ends() -> None:
    _runs, run_batch = batches_over(700, 500)  # another run took 300 of the 1,000
    results = asyncio.run(drain_in_lanes(run_batch, 2, total=1000))
    assert sum(result.claimed for result in results) == 700


def test_items_held_for_the_first_batches_count_from_the_start() -> None:
    runs, run_batch = batches_over(1000, 500)  # the first two batches take what was claimed for them
    results = asyncio.run(drain_in_lanes(run_batch, 2, total=1000, held=1000))
    assert sorted(runs) == [(1, 1), (2, 1)]  # without held, the lane that ends first looks again
    assert sum(result.claimed for result in results) == 1000
