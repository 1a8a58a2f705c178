"""Running many coroutines at once and handing their results on in groups as they complete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def gather_in_groups(
    jobs: Iterable[Awaitable[T]],
    flush: Callable[[list[T]], Awaitable[None]],
    *,
    group_size: int = 100,
    max_wait: float = 1.0,
) -> None:
    """Await ``jobs`` concurrently; pass results to ``flush`` every ``group_size``, or every ``max_wait``
    seconds whenever some are waiting, whether or not another result has arrived meanwhile.

    Writing as results arrive keeps one slow job from holding back everyone else's results (a page
    done in a second is stored in a second, however long its batch's slowest page hangs), and keeps
    database round trips to one per group. A job that raises fails the whole gather: wrap jobs
    whose errors belong to their item (see tasks/batch.py).

    Each job reports its own completion (a done callback), so a wake-up costs what completed since
    the last one: ``asyncio.wait`` on the jobs still pending would visit every one of them at each
    wake-up (a batch of 500 jobs, O(n²)).
    """
    finished: list[asyncio.Future[T]] = []
    woken = asyncio.Event()

    def on_done(task: asyncio.Future[T]) -> None:
        finished.append(task)
        woken.set()

    tasks = [asyncio.ensure_future(job) for job in jobs]
    for task in tasks:
        task.add_done_callback(on_done)
    left = len(tasks)
    ready: list[T] = []
    last_flush = time.monotonic()
    try:
        while left:
            if not finished:
                try:
                    async with asyncio.timeout(max(0.0, last_flush + max_wait - time.monotonic())):
                        await woken.wait()
                except TimeoutError:
                    pass
            woken.clear()
            done, finished[:] = finished[:], []
            left -= len(done)
            ready.extend(task.result() for task in done)
            if len(ready) >= group_size or (ready and time.monotonic() - last_flush >= max_wait):
                await flush(ready)
                ready, last_flush = [], time.monotonic()
            elif not ready:
                last_flush = time.monotonic()
    finally:
        for task in tasks:
            task.cancel()  # none but those left when a job raised: a finished task ignores it
    if ready:
        await flush(ready)
