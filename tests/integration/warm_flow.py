"""A flow that tells which process had imported its module before it ran (for test_warm_starts.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from prefect import flow

IMPORTED_BY = os.getpid()


@flow
def where_it_runs(out: str) -> None:
    """Write this process's id and that of the process that imported this module (None: not imported).

    A flow function travels to its process by value, so the module is looked up by name."""
    module = sys.modules.get("tests.integration.warm_flow")
    imported_by = getattr(module, "IMPORTED_BY", None)
    Path(out).write_text(json.dumps({"pid": os.getpid(), "imported_by": imported_by}))
