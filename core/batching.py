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
    """
    pending = {asyncio.ensure_future(job) for job in jobs}
    ready: list[T] = []
    last_flush = time.monotonic()
    try:
        while pending:
            timeout = max(0.0, last_flush + max_wait - time.monotonic())
            done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            ready.extend(task.result() for task in done)
            if len(ready) >= group_size or (ready and time.monotonic() - last_flush >= max_wait):
                await flush(ready)
                ready, last_flush = [], time.monotonic()
            elif not ready:
                last_flush = time.monotonic()
    finally:
        for task in pending:
            task.cancel()
    if ready:
        await flush(ready)
