"""Helper processes forked from a process that holds pooled database connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.processes import run_in_helper, start_helpers, stop_helpers
from db.engine import session_factory
from tasks.page_work import start_helper


def _session_id() -> tuple[int, int | None]:
    """This process's id and its database session's (PostgreSQL's backend pid; None on SQLite)."""
    with session_factory().begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            return os.getpid(), session.scalar(text("SELECT pg_backend_pid()"))
        session.execute(text("SELECT 1"))
        return os.getpid(), None


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
    parent_pid, parent_session = _session_id()  # a pooled connection the fork inherits

    start_helpers(1, start_helper)
    try:
        helper_pid, helper_session = asyncio.run(run_in_helper(1, _session_id))
    finally:
        stop_helpers(1)
    _wait_gone(helper_pid)  # its interpreter is gone, with whatever it freed or closed at exit

    assert helper_pid != parent_pid
    assert _session_id() == (parent_pid, parent_session)  # the same session, still alive
    if parent_session is not None:  # PostgreSQL tells the sessions apart
        assert helper_session != parent_session
