"""Machine-wide slots: a bound across processes, held by forked processes, freed when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import PROJECT_ROOT
from core.slots import held_slots, take_slot


def test_no_more_than_count_are_held_and_a_released_one_is_free_again(tmp_path: Path) -> None:
    first, second = take_slot(tmp_path, 2), take_slot(tmp_path, 2)
    assert first is not None and second is not None and {first.number, second.number} == {0, 1}
    assert take_slot(tmp_path, 2) is None
    assert held_slots(tmp_path, 2) == 2
    first.release()
    again = take_slot(tmp_path, 2)
    assert again is not None and again.number == first.number
    again.release()
    second.release()
    assert held_slots(tmp_path, 2) == 0


def test_a_slot_held_by_another_process_is_freed_when_it_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from core.slots import take_slot; "
        f"slot = take_slot(Path({str(tmp_path)!r}), 1); print('held' if slot else 'none', flush=True); "
        "time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert take_slot(tmp_path, 1) is None
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        slot = take_slot(tmp_path, 1)  # the kernel released the dead holder's lock
        assert slot is not None
        slot.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_forked_child_keeps_the_slot_after_the_parent_releases_its_copy(tmp_path: Path) -> None:
    slot = take_slot(tmp_path, 1)
    assert slot is not None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: holds the slot (its copy of the descriptor) until it is killed
        os.close(read_end)
        os.write(write_end, b"x")
        time.sleep(120)
        os._exit(0)
    os.close(write_end)
    os.read(read_end, 1)
    os.close(read_end)
    slot.release()  # as start_senders does once the sender is forked
    try:
        assert take_slot(tmp_path, 1) is None
        assert held_slots(tmp_path, 1) == 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    freed = take_slot(tmp_path, 1)
    assert freed is not None
    freed.release()
