"""Flow runs of serve() started warm: forked from a process that imported Prefect and the flows once.

Prefect's runner starts each flow run of an in-memory flow in a new process with multiprocessing's
``spawn``, which imports Prefect and the flow's module again (1.5–3 s of CPU here) before the run
is even Running. With `start_runs_warm`, the same runs come from multiprocessing's ``forkserver``,
whose server imported those modules once: a run's process exists in milliseconds and only unpickles
its flow. The run itself is unchanged (same function, same environment and settings handed over by
Prefect, same process handle for cancellation and the process limit). The flows' code is the code
serve started with: restart serve after changing it (as with Prefect's own ``flow.serve()``).

Each warm run's process is a session of its own (a Ctrl-C meant for serve or the worker does not reach
it; `RunGroup` stops it with its children) and ends with the process that started it: when that
process dies (even by SIGKILL), the run gets SIGTERM and Prefect reports it Crashed, instead of its
working on unsupervised (Linux: ``pidfd_open``), and SIGKILL ``GRACE_SECONDS`` later if it is still
there. Once its flow has returned, the process exits within ``EXIT_SECONDS``: Prefect's exit waits,
without a bound, for its log and event services to drain, and under overload (a Prefect server that
stood still, then stopped) that wait never ended; such processes held serve's slots and outlived the
demo's stop (bench/RESULTS.md, issue 11 sixth session). Its heartbeats never reach the Prefect server after
its final state (deployments/heartbeats.py), its Prefect clients share one TLS context
(deployments/prefect_tls.py), and the garbage collector leaves the objects it started with alone
(core/heap.py). Used by serve (deployments/serve.py) and the process worker
(deployments/worker.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterable
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, ForkServerProcess
from types import SimpleNamespace
from typing import Any

from prefect import flow_engine

from core.heap import freeze_startup_heap
from deployments import heartbeats
from deployments.prefect_tls import share_tls_contexts

# Prefect's flow engine, and what a run of it imports when it starts (measured: ~0.15 s of a run's CPU)
ENGINE = (
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "prefect.concurrency.services",
    "anyio._backends._asyncio",
)
GRACE_SECONDS = 15.0  # after the SIGTERM its starter's death sent, a run still alive is killed
EXIT_SECONDS = 10.0  # after its flow returned, a run's process still alive exits (what Prefect had
# not sent of its logs and events by then is dropped)


class WarmProcess(ForkServerProcess):
    """A flow run's process forked by the forkserver: a session of its own, sent SIGTERM when the
    process that asked for it (serve, the worker) dies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started_by = os.getpid()
        # read in the starter and pickled with the process: the forkserver's copy of this module
        # would not see a change made in the starter (the tests shorten both)
        self.grace_seconds, self.exit_seconds = GRACE_SECONDS, EXIT_SECONDS

    def run(self) -> None:
        os.setsid()
        end_with(self.started_by, self.grace_seconds)
        prepare_run_process()
        status = 1
        try:
            super().run()
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            raise
        finally:
            exit_within(self.exit_seconds, status)


def prepare_run_process() -> None:
    """Set this process up as a warm run's: heartbeats after the first interval, Prefect clients sharing
    one TLS context, the starting heap frozen for the garbage collector. The in-process benchmarks
    call it after their warm-up, so their timed run pays what a served run pays."""
    heartbeats.install()
    share_tls_contexts()
    freeze_startup_heap()


def end_with(pid: int, grace: float = GRACE_SECONDS) -> None:
    """Send this process SIGTERM when process ``pid`` ends (a daemon thread waits for it), and SIGKILL
    ``grace`` s later; exit now if it has ended already. Prefect's engine reports the run Crashed on
    that SIGTERM."""
    try:
        ended = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)

    def wait() -> None:
        select.select([ended], [], [])
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait, name=f"end with {pid}", daemon=True).start()


def exit_within(seconds: float, status: int) -> None:
    """End this process with ``status`` in ``seconds`` if it has not ended by then (a daemon thread)."""

    def exit_later() -> None:
        time.sleep(seconds)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):  # none, or closed
                stream.flush()
        os._exit(status)

    threading.Thread(target=exit_later, name="exit within", daemon=True).start()


class WarmContext(ForkServerContext):
    """multiprocessing's forkserver context whose processes are `WarmProcess`es."""

    Process = WarmProcess  # type: ignore[assignment]


class RunGroup:
    """Prefect's process termination scope for a warm run: signals go to the run's process group (the
    run and what it started, as Prefect does for a worker's cold runs) once the run has made it, and
    to the run's process alone in the moment before."""

    wait_after_graceful_kill = True

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:  # no group yet (or any more): the process itself
            os.kill(pid, signum)

    def is_alive(self, pid: int) -> bool:
        try:
            self._signal(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def graceful_kill(self, pid: int) -> None:
        self._signal(pid, signal.SIGTERM)

    def hard_kill(self, pid: int) -> None:
        self._signal(pid, signal.SIGKILL)

    def close(self) -> None:
        pass


def start_runs_warm(modules: Iterable[str], *, now: bool = False) -> None:
    """From now on, start in-memory flow runs from a forkserver that has imported ``modules``
    (and Prefect's flow engine); the server itself starts with the first run, or ``now``."""
    context = WarmContext()
    # this module too: each run's process object is a WarmProcess; and the main module's imports
    # (multiprocessing runs the main module again in each child: ~0.15 s of imports a run otherwise)
    # (a package's __main__ is left out: importing it would run it)
    main = getattr(getattr(sys.modules["__main__"], "__spec__", None), "name", None) or "__main__"
    preload = [*ENGINE, __name__, *sorted(set(modules)), *([] if main.endswith("__main__") else [main])]
    context.set_forkserver_preload(preload)
    # run_flow_in_subprocess asks the module it lives in for a "spawn" context: hand it this one
    flow_engine.multiprocessing = SimpleNamespace(get_context=lambda method=None: context)  # type: ignore[attr-defined]
    if now:
        forkserver.ensure_running()


def stop_runs() -> None:
    """Send SIGTERM to every flow-run process this process started: a signal sent to serve alone
    does not reach them (their parent is the forkserver), and serve waits for each to exit."""
    for child in multiprocessing.active_children():
        child.terminate()


def started_warm() -> bool:
    """Whether `start_runs_warm` is in force in this process."""
    return flow_engine.multiprocessing is not multiprocessing
