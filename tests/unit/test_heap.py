"""What a run process freezes out of the garbage collector's sight, and when."""

from __future__ import annotations

import subprocess
import sys

from core.settings import PROJECT_ROOT

# In a process of its own: freezing is once per process, and this test's process is pytest's.
SCRIPT = """
import gc
from core.heap import freeze_startup_heap

loaded = [[n] for n in range(1000)]
assert gc.get_freeze_count() == 0
freeze_startup_heap()
frozen = gc.get_freeze_count()
assert frozen > len(loaded), frozen
later = [[n] for n in range(1000)]
freeze_startup_heap()
assert gc.get_freeze_count() == frozen, "a second call froze what was made after the first"
print("ok")
"""


def test_what_the_process_holds_is_frozen_once_and_what_comes_later_is_collected_as_before() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
