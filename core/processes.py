"""Helper processes for CPU-bound work that one event loop's core cannot keep up with.

Started for a piece of work (``start_helpers``) and stopped after it (``stop_helpers``). Forked, not
spawned: a fork of the warm process has every module imported already and starts in milliseconds,
where a spawned interpreter spent ~1 s of CPU importing the work's modules, in every flow run. A
fork copies only the thread that asks, so a helper must not use what the parent's threads own (its
pooled database connections: ``db.engine`` gives a forked process engines of its own). Each helper is
killed when its parent dies, so a killed flow run leaves no helper behind. The work must be a
module-level function whose arguments and result pickle.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

R = TypeVar("R")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PR_SET_NAME = 15

_pools: dict[int, ProcessPoolExecutor] = {}


def die_with_parent(parent: int, name: bytes | None = None) -> None:
    """Be killed when the parent process dies (Linux); exit now if it has died already. With a
    ``name``, be shown by it (``/proc/PID/comm``: what ``top`` and ``ps -o comm`` show)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if name is not None:
            libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)


def start_helpers(processes: int) -> None:
    """Fork ``processes`` helpers now, unless they run already.

    Call it where no other thread holds a lock the helpers' work needs: a fork keeps it held forever.
    """
    if processes in _pools:
        return
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    pool.submit(int)  # a fork pool starts all its processes at its first call
    _pools[processes] = pool


def stop_helpers(processes: int) -> None:
    """Let the helpers end once their calls are done (they hold what their parent had at the fork)."""
    pool = _pools.pop(processes, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def run_in_helper(processes: int, work: Callable[..., R], *args: object) -> R:
    """Run ``work(*args)`` in one of the running helpers (see ``start_helpers``); wait for its result."""
    return await asyncio.get_running_loop().run_in_executor(_pools[processes], work, *args)
