"""The demo's Prefect server: ``prefect server start`` with Python's garbage collected off its event loop.

The embedded Prefect server keeps its database in SQLite (aiosqlite: each connection's statements run
in a thread of their own) and serves every request from one event loop. Python collects cyclic
garbage in whichever thread happens to allocate, usually that loop. A collected SQLite cursor whose
statement is still in use is reset as it goes, and the reset waits for its connection's lock; when
that connection is meanwhile waiting (SQLite's busy timeout, 60 s in Prefect) for a write lock held by
a transaction that only the event loop can commit, the loop waits for the busy timeout and the
whole server stands still: no CPU, every request unanswered, and then the waiting write fails as
"database is locked" (py-spy under ten times the demo's load: the loop in ``cursor_dealloc`` →
``sqlite3_reset`` → ``pthread_mutex_lock`` for 20-60 s at a time; bench/RESULTS.md, issue 11 sixth
session). Here automatic collection is off and a thread of its own collects as often as Python
would (`collect_garbage_in_thread`): the reset then waits in that thread while the loop commits.
That thread collects the oldest generation whenever its count passes its threshold, without Python's
own check that spares a large heap most full collections; so the server's imported modules are
frozen first (core/heap.py): a full collection of them took 160-220 ms, and now visits only what the
server made since.

    python -m deployments.prefect_server --host 127.0.0.1 --port 4200   # as `prefect server start`
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable

from core.heap import freeze_startup_heap

EVERY = 0.1  # seconds between looks at the allocation counts


def collect_due() -> int | None:
    """Collect the oldest generation whose count has passed its threshold, as Python's automatic
    collection would have by now; the generation collected, or None."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    due = [generation for generation in range(3) if counts[generation] > thresholds[generation]]
    if not due or not thresholds[0]:  # nothing due, or collection turned off (threshold 0)
        return None
    gc.collect(due[-1])
    return due[-1]


def collect_garbage_in_thread(every: float = EVERY) -> Callable[[], None]:
    """Turn Python's automatic garbage collection off and collect in a daemon thread instead, every
    ``every`` s when due; the returned function stops the thread and turns automatic collection back on."""
    stopped = threading.Event()

    def collect() -> None:
        while not stopped.wait(every):
            collect_due()

    thread = threading.Thread(target=collect, name="garbage collector", daemon=True)
    gc.disable()
    thread.start()

    def stop() -> None:
        stopped.set()
        thread.join()
        gc.enable()

    return stop


def main() -> None:
    """``prefect server start`` with the arguments given, its garbage collected in a thread."""
    collect_garbage_in_thread()
    import prefect.server.api.server  # noqa: F401  (the server's modules, imported before the freeze)
    from prefect.cli import app

    freeze_startup_heap()

    sys.argv = ["prefect", "server", "start", *sys.argv[1:]]
    app()


if __name__ == "__main__":
    main()
