"""A flow that tells which process imported its module and which runs it (tests/integration/test_warm_starts.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from prefect import flow

IMPORTED_BY = os.getpid()


@flow
def where_it_runs(out: str) -> None:
    """Write the id of this process and that of the process that imported this module."""
    Path(out).write_text(json.dumps({"pid": os.getpid(), "imported_by": IMPORTED_BY}))
