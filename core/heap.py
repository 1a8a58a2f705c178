"""What a flow run's process had before its work began, kept out of the garbage collector's way.

A run's process starts with well over a million objects (Prefect, pydantic, SQLAlchemy and the flows'
modules, imported once by the warm process it was forked from). Python's full collections (generation
2) visit every one of them: 0.2–0.3 s of CPU each here, at least once in a count of 1,000 pages
(bench/RESULTS.md, issue 11, sixth session). ``freeze_startup_heap`` moves everything alive now into the
collector's permanent generation (``gc.freeze``), so a full collection visits only what the run
creates. Reference counting still frees frozen objects; only a cycle among them would outlive the
process, and a run's process ends with its run. Processes the run forks later inherit the freeze.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Keep every object alive now out of the garbage collector's later collections (see above)."""
    gc.freeze()
