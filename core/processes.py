"""Long-lived helper processes for CPU-bound work that one event loop's core cannot keep up with.

One pool per process and size, started on first use and kept for the process's life, so its start
(a fresh interpreter importing the work's modules, ~1 s) is paid once. Spawned, never forked: the
process asking is typically a Prefect flow run with threads of its own, which a fork would copy
mid-lock. The work must be a module-level function whose arguments and result pickle.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

R = TypeVar("R")

_pools: dict[int, ProcessPoolExecutor] = {}


def helper_pool(processes: int) -> ProcessPoolExecutor:
    """The process's pool of ``processes`` helpers (created on first use)."""
    pool = _pools.get(processes)
    if pool is None:
        pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        _pools[processes] = pool
    return pool


def start_helpers(processes: int) -> None:
    """Start the pool's processes now (they take ~1 s to import their work), not at the first call."""
    pool = helper_pool(processes)
    for _ in range(processes):
        pool.submit(int)


async def run_in_helper(processes: int, work: Callable[..., R], *args: object) -> R:
    """Run ``work(*args)`` in one of the pool's helper processes and wait for its result."""
    return await asyncio.get_running_loop().run_in_executor(helper_pool(processes), work, *args)
