"""Flow runs of serve() started warm: forked from a process that imported Prefect and the flows once.

Prefect's runner starts each flow run of an in-memory flow in a new process with multiprocessing's
``spawn``, which imports Prefect and the flow's module again (1.5–3 s of CPU here) before the run
is even Running. With `start_runs_warm`, the same runs come from multiprocessing's ``forkserver``,
whose server imported those modules once: a run's process exists in milliseconds and only unpickles
its flow. The run itself is unchanged (same function, same environment and settings handed over by
Prefect, same process handle for cancellation and the process limit). The flows' code is the code
serve started with: restart serve after changing it (as with Prefect's own ``flow.serve()``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from types import SimpleNamespace

from prefect import flow_engine

ENGINE = "prefect.flow_engine"


def start_runs_warm(modules: Iterable[str]) -> None:
    """From now on, start in-memory flow runs from a forkserver that has imported ``modules``
    (and Prefect's flow engine); the server itself starts with the first run."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([ENGINE, *sorted(set(modules))])
    # run_flow_in_subprocess asks the module it lives in for a "spawn" context: hand it this one
    flow_engine.multiprocessing = SimpleNamespace(get_context=lambda method=None: context)  # type: ignore[attr-defined]


def stop_runs() -> None:
    """Send SIGTERM to every flow-run process this process started: a signal sent to serve alone
    does not reach them (their parent is the forkserver), and serve waits for each to exit."""
    for child in multiprocessing.active_children():
        child.terminate()


def started_warm() -> bool:
    """Whether `start_runs_warm` is in force in this process."""
    return flow_engine.multiprocessing is not multiprocessing
