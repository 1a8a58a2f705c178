"""connect_pacing: a host is paced only after a connect stalls while others were fast; a stalled
connect is started again; each interval is doubled once, whatever number of connects stalled under it."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from connectors.connect_pacing import FIRST_INTERVAL, MAX_INTERVAL, MIN_STALL, HostPacer, paced_connect

STALL = MIN_STALL  # how long a connect to a host that connects at once may wait


class Connects:
    """A connect that answers at once, except its first ``hanging`` calls, which hang until cancelled."""

    def __init__(self, hanging: int = 0) -> None:
        self.hanging = hanging
        self.calls = 0
        self.cancelled = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.hanging:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return self.calls


def test_a_host_whose_connects_answer_is_never_paced() -> None:
    async def scenario() -> tuple[list[int], HostPacer]:
        pacer = HostPacer()
        connects = Connects()
        return await asyncio.gather(*(paced_connect(pacer, connects) for _ in range(50))), pacer

    results, pacer = asyncio.run(scenario())
    assert sorted(results) == list(range(1, 51))
    assert pacer.interval == 0.0
    assert pacer.fastest < STALL


def test_a_stalled_connect_is_started_again_once_another_was_fast() -> None:
    async def scenario() -> tuple[int, HostPacer, Connects]:
        pacer = HostPacer()
        await paced_connect(pacer, Connects())  # one fast connect: the host can connect quickly
        connects = Connects(hanging=1)
        return await paced_connect(pacer, connects), pacer, connects

    result, pacer, connects = asyncio.run(scenario())
    assert result == 2  # the second start answered
    assert connects.cancelled == 1
    assert pacer.interval == FIRST_INTERVAL


def test_a_slow_connect_to_a_host_never_seen_fast_is_not_cut() -> None:
    async def slow() -> str:
        await asyncio.sleep(STALL * 3)
        return "connected"

    async def scenario() -> tuple[str, HostPacer]:
        pacer = HostPacer()
        return await paced_connect(pacer, slow), pacer

    result, pacer = asyncio.run(scenario())
    assert result == "connected"
    assert pacer.interval == 0.0


def test_many_stalls_under_one_interval_slow_the_host_down_once() -> None:
    pacer = HostPacer()
    for _ in range(100):
        pacer.stalled(0.0)
    assert pacer.interval == FIRST_INTERVAL
    pacer.stalled(0.0)  # a connect started before the first slow-down
    assert pacer.interval == FIRST_INTERVAL
    pacer.stalled(FIRST_INTERVAL)
    assert pacer.interval == 2 * FIRST_INTERVAL
    for _ in range(20):
        pacer.stalled(pacer.interval)
    assert pacer.interval == MAX_INTERVAL


def test_paced_starts_are_spread_by_the_interval() -> None:
    async def scenario() -> list[float]:
        pacer = HostPacer()
        pacer.interval = 0.02
        loop = asyncio.get_running_loop()
        starts: list[float] = []

        async def connect() -> None:
            starts.append(loop.time())

        await asyncio.gather(*(paced_connect(pacer, connect) for _ in range(5)))
        return starts

    starts = asyncio.run(scenario())
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= 0.02 * 0.9  # the event loop's clock granularity


def test_a_connect_cancelled_from_outside_cancels_its_attempt() -> None:
    async def scenario() -> Connects:
        pacer = HostPacer()
        connects = Connects(hanging=1)
        waiting = asyncio.ensure_future(paced_connect(pacer, connects))
        await asyncio.sleep(STALL / 5)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0)  # let the attempt see its cancellation
        return connects

    connects = asyncio.run(scenario())
    assert connects.cancelled == 1
    assert connects.calls == 1
