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
    """Await ``jobs`` concurrently; pass results to ``flush`` every ``group_size`` or ``max_wait`` s.

    Writing as results arrive keeps one slow job from holding back everyone else's results, and
    keeps database round trips to one per group.
    """
    ready: list[T] = []
    last_flush = time.monotonic()
    for next_done in asyncio.as_completed(list(jobs)):
        ready.append(await next_done)
        if len(ready) >= group_size or time.monotonic() - last_flush >= max_wait:
            await flush(ready)
            ready, last_flush = [], time.monotonic()
    if ready:
        await flush(ready)
