"""Helper processes forked from a process that holds database connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session, sessionmaker

from core.processes import run_in_helper, start_helpers, stop_helpers
from db.engine import get_engine, session_factory


def _backend(connection: Connection) -> int | None:
    """The connection's server session (PostgreSQL's backend pid; None on SQLite, after a query)."""
    if connection.dialect.name == "postgresql":
        return connection.scalar(text("SELECT pg_backend_pid()"))
    connection.execute(text("SELECT 1"))
    return None


def _helper_session() -> tuple[int, int | None]:
    """In the helper: its process id and the server session its own database work runs on."""
    with session_factory().begin() as session:
        return os.getpid(), _backend(session.connection())


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Until the process has exited and been reaped (by the pool's own thread, or here)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def test_a_forked_helper_uses_its_own_connections_and_leaves_the_parents_alive(
    sessions: sessionmaker[Session],
) -> None:
    with get_engine().connect() as held:  # in use by the parent across the fork
        parent_session = _backend(held)
        with session_factory().begin() as session:  # and one more idle in the pool
            idle_session = _backend(session.connection())

        start_helpers(1)
        try:
            helper_pid, helper_session = asyncio.run(run_in_helper(1, _helper_session))
        finally:
            stop_helpers(1)
        _wait_gone(helper_pid)  # its interpreter is gone, with whatever it freed or closed

        assert helper_pid != os.getpid()
        assert _backend(held) == parent_session  # the same session, still alive
        if parent_session is not None:  # PostgreSQL tells the sessions apart
            assert helper_session not in {parent_session, idle_session}
