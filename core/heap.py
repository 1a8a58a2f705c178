"""What a flow run's process had before its work began, kept out of the garbage collector's way.

A run's process starts with hundreds of thousands of objects that live as long as it (Prefect,
pydantic, SQLAlchemy, numpy, wordcloud and the flows' modules, imported once by the warm process it
was forked from). Python's full collections (generation 2) visit every one of them: 0.2–0.4 s of CPU
each here, at least once in a count of 1,000 pages and twice in a brief (``gc.callbacks``;
bench/RESULTS.md, issue 11, sixth session). ``freeze_startup_heap`` moves everything alive at that
moment into the collector's permanent generation (``gc.freeze``), so a full collection visits only
what the work creates. Reference counting still frees frozen objects; only a cycle among them would
outlive the process. Processes forked later inherit the freeze.
"""

from __future__ import annotations

import gc
from functools import cache


@cache
def freeze_startup_heap() -> None:
    """Keep every object alive now out of the garbage collector's later collections, once per process
    (later calls do nothing: a long-lived process never freezes the objects of its earlier work)."""
    gc.freeze()
