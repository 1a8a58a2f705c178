"""The demo's Prefect server collects garbage off its event loop (deployments/prefect_server.py).

The stall it avoids, made with two aiosqlite connections as the SQLite Prefect server has them: one
holds the write lock and commits from the event loop half a second later; the other waits for that
lock in its thread (SQLite's busy timeout) while a cursor of its own, with a statement still in use,
becomes garbage on the loop. Collected on the loop, the cursor's reset waits for the waiting
connection, so the loop cannot commit and the write fails when the busy timeout ends ("database is
locked"); collected in a thread of its own, the loop commits and the write goes through.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from deployments.prefect_server import collect_due, collect_garbage_in_thread

BUSY_TIMEOUT = 3.0  # s a write waits for the lock (Prefect's server: 60 s)
COMMIT_AFTER = 0.5  # s before the lock holder commits, from the event loop


async def write_while_garbage_is_collected(path: Path) -> str:
    """What the waiting connection's write came to: "written", or the error it raised."""
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (x INTEGER)")
    waiting = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT)
    holder = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        # a cursor whose statement is still in use (one of its two rows read; it reads no table)
        cursor = await waiting.execute("SELECT 1 UNION ALL SELECT 2")
        await cursor.fetchone()
        await holder.execute("BEGIN IMMEDIATE")
        await holder.execute("INSERT INTO t VALUES (0)")

        async def commit_soon() -> None:
            await asyncio.sleep(COMMIT_AFTER)
            await holder.execute("COMMIT")

        committing = asyncio.create_task(commit_soon())
        write = asyncio.create_task(waiting.execute("INSERT INTO t VALUES (1)"))
        await asyncio.sleep(0.2)  # the write now waits for the lock in its connection's thread
        cycle: list[object] = [cursor]
        cycle.append(cycle)  # the cursor's last reference, in a cycle only a collection frees
        del cursor, cycle
        _ = [[] for _ in range(5000)]  # allocations: Python collects (automatically) here, if on
        await committing
        try:
            await write
        except sqlite3.OperationalError as exc:
            return str(exc)
        await waiting.commit()
        return "written"
    finally:
        await waiting.close()
        await holder.close()


def test_a_collection_on_the_loop_stalls_it_until_the_busy_timeout(tmp_path: Path) -> None:
    """The cause, with Python's automatic collection (on the loop): the write fails."""
    assert gc.isenabled()
    assert asyncio.run(write_while_garbage_is_collected(tmp_path / "db.sqlite")) == "database is locked"


def test_garbage_collected_in_a_thread_leaves_the_loop_free(tmp_path: Path) -> None:
    stop = collect_garbage_in_thread()
    try:
        assert asyncio.run(write_while_garbage_is_collected(tmp_path / "db.sqlite")) == "written"
    finally:
        stop()
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("counts", "collected"),
    [((0, 0, 0), None), ((701, 0, 0), 0), ((701, 11, 0), 1), ((701, 11, 11), 2), ((5, 11, 0), 1)],
)
def test_collect_due_collects_the_oldest_generation_past_its_threshold(
    monkeypatch: pytest.MonkeyPatch, counts: tuple[int, int, int], collected: int | None
) -> None:
    """As Python's automatic collection: thresholds 700, 10, 10."""
    calls: list[int] = []
    monkeypatch.setattr(gc, "get_count", lambda: counts)
    monkeypatch.setattr(gc, "get_threshold", lambda: (700, 10, 10))
    monkeypatch.setattr(gc, "collect", lambda generation=2: calls.append(generation) or 0)
    assert collect_due() == collected
    assert calls == ([] if collected is None else [collected])
