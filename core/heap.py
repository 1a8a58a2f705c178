"""What the garbage collector looks at in a process that does a large piece of work.

A flow-run process holds ~390,000 container objects before its work begins (Prefect, SQLAlchemy,
pydantic, numpy, wordcloud: modules, classes, functions, caches), and they live as long as the process.
The objects a brief makes (~6,000 articles, their rows and texts) set off full collections, and each
walks all of them: 0.25–0.4 s of a brief's ~3 s, twice per brief (measured with ``gc.callbacks``,
bench/RESULTS.md, issue 11 sixth session). `freeze_loaded` takes what the process holds out of the
collector's sight once (``gc.freeze``); the work's own objects are collected as before.
"""

from __future__ import annotations

import gc
from functools import cache


@cache
def freeze_loaded() -> None:
    """Take every object this process holds now out of the garbage collector's sight, once per process
    (later calls do nothing, so the objects of earlier work are never frozen in a long-lived process).

    Frozen objects are never collected: what this process loaded is meant to live as long as it. A
    process forked after this inherits the frozen set, so its collections do not touch those pages.
    """
    gc.freeze()
