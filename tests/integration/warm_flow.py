"""Flows that tell which process had imported their module before they ran, and what environment they
got (for test_warm_starts.py and test_warm_worker.py)."""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from prefect import flow
from prefect.settings import get_current_settings

IMPORTED_BY = os.getpid()
MARK = "WARM_TEST_MARK"


@flow
def where_it_runs(out: str) -> None:
    """Write this process's id, that of the process that imported this module (None: not imported), the
    ``WARM_TEST_MARK`` variable, the heartbeat setting, the working directory and how many objects the
    garbage collector leaves alone (frozen).

    A flow function travels to its process by value, so the module is looked up by name."""
    module = sys.modules.get("tests.integration.warm_flow")
    imported_by = getattr(module, "IMPORTED_BY", None)
    where = {
        "pid": os.getpid(),
        "imported_by": imported_by,
        "mark": os.environ.get(MARK),
        "heartbeat": get_current_settings().flows.heartbeat_frequency,
        "cwd": os.getcwd(),
        "frozen": gc.get_freeze_count(),
    }
    Path(out).write_text(json.dumps(where))


@flow
def sleeps(out: str, seconds: float) -> None:
    """Write this process's id, then sleep."""
    Path(out).write_text(json.dumps({"pid": os.getpid()}))
    time.sleep(seconds)


def hangs_at_exit() -> None:
    """Return, leaving an exit that waits for ever (as Prefect's drain of its log and event services
    did for a Prefect server that had stopped)."""
    threading._register_atexit(threading.Event().wait)  # type: ignore[attr-defined]


def ignores_sigterm(out: str) -> None:
    """Write this process's id, then live on whatever SIGTERM says."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(out).write_text(json.dumps({"pid": os.getpid()}))
    time.sleep(600)
