"""Slots shared by every process of one machine: at most ``count`` held at once, freed when the holder dies.

A slot is a file ``slot-N`` (N below ``count``) in one directory, held by an exclusive ``flock`` on an
open descriptor of it. The kernel ties the lock to that open file: it holds while any process has the
descriptor open (a ``fork`` shares it) and is released when the last one closes it, which a process
does when it exits, however it exits (kill -9 included). So a slot never outlives its holder, and
nothing has to clean up after a crash: no pid files, no leases, no database round trip.

The directory must be on a local file system of the machine (``flock`` across NFS is not a
machine-local lock): every process that shares the bound uses the same directory and the same count.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class Slot:
    """One held slot: an open descriptor of its file, locked. ``release`` (or the process's exit,
    and that of every process it forked since) frees it."""

    def __init__(self, number: int, fd: int) -> None:
        self.number = number
        self.fd = fd

    def release(self) -> None:
        """Close this process's descriptor: the slot is free once no forked process holds it either."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def take_slot(directory: Path, count: int) -> Slot | None:
    """A free slot of the ``count`` in ``directory`` (created if missing), or None when all are held.
    Never waits."""
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        fd = os.open(directory / f"slot-{number}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        return Slot(number, fd)
    return None


def held_slots(directory: Path, count: int) -> int:
    """How many of the ``count`` slots in ``directory`` are held now (by any process)."""
    held = 0
    for number in range(count):
        path = directory / f"slot-{number}"
        if not path.exists():
            continue
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held += 1
        finally:
            os.close(fd)  # a shared lock taken here is released with the descriptor
    return held
