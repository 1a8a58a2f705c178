"""A transaction PostgreSQL aborts to break a deadlock is run again; other errors are not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.engine import get_engine
from db.transactions import in_transaction

Sessions = sessionmaker[Session]


@pytest.fixture
def rows(sessions: Sessions, database_url: str) -> Iterator[Sessions]:
    """Two rows (ids 1 and 2) in a table of their own."""
    with get_engine(database_url).begin() as connection:
        connection.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO probe (id, n) VALUES (1, 0), (2, 0)"))
    yield sessions
    with get_engine(database_url).begin() as connection:
        connection.execute(text("DROP TABLE probe"))


def bump(session: Session, row: int) -> None:
    session.execute(text("UPDATE probe SET n = n + 1 WHERE id = :id"), {"id": row})


def test_a_transaction_aborted_by_a_deadlock_is_run_again(rows: Sessions, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: its transactions never deadlock")
    first_locked, other_failed = threading.Event(), []
    attempts = 0

    def work(session: Session) -> str:
        nonlocal attempts
        attempts += 1
        bump(session, 1)
        first_locked.set()
        bump(session, 2)  # the other transaction holds row 2 and then waits for row 1: a deadlock
        return "done"

    def other() -> None:
        with get_engine(database_url).connect() as connection, connection.begin():
            # this side waits longer before PostgreSQL looks for a deadlock, so `work` is the one aborted
            connection.execute(text("SET LOCAL deadlock_timeout = '20s'"))
            connection.execute(text("UPDATE probe SET n = n + 10 WHERE id = 2"))
            first_locked.wait(10)
            try:
                connection.execute(text("UPDATE probe SET n = n + 10 WHERE id = 1"))
            except DBAPIError as exc:  # only if PostgreSQL chose this side: the test fails
                other_failed.append(exc)
                raise

    thread = threading.Thread(target=other)
    thread.start()
    deadline = time.monotonic() + 10
    while not _row_locked(rows, 2) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a condition, not timing: the other transaction holds row 2
    assert in_transaction(rows, work) == "done"
    thread.join(30)
    assert not other_failed
    assert attempts == 2
    with rows.begin() as session:
        assert dict(session.execute(text("SELECT id, n FROM probe")).all()) == {1: 11, 2: 11}


def test_other_errors_are_raised_at_once(rows: Sessions) -> None:
    attempts = 0

    def work(session: Session) -> None:
        nonlocal attempts
        attempts += 1
        bump(session, 1)
        session.execute(text("INSERT INTO probe (id, n) VALUES (2, 0)"))

    with pytest.raises(IntegrityError):
        in_transaction(rows, work)
    assert attempts == 1
    with rows.begin() as session:  # the failed attempt changed nothing
        assert session.execute(text("SELECT n FROM probe WHERE id = 1")).scalar_one() == 0


def _row_locked(sessions: Sessions, row: int) -> bool:
    """Whether another transaction holds a lock on ``row`` (a NOWAIT lock attempt fails)."""
    with sessions() as session:
        try:
            session.execute(text("SELECT id FROM probe WHERE id = :id FOR UPDATE NOWAIT"), {"id": row})
        except DBAPIError:
            return True
        finally:
            session.rollback()
    return False
