"""The API's rate limit reserved in blocks (api/allowance.py), on SQLite and PostgreSQL: two processes
(two Allowances) sharing one key never grant more than the limit in a window, and a refusal says when
to come back."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.allowance import BLOCKS_PER_WINDOW, Allowances
from db.limits import LimitWindow


def test_two_processes_never_grant_more_than_the_limit(sessions: sessionmaker[Session]) -> None:
    if time.time() % 60 > 55:  # all of it inside one minute's window
        time.sleep(61 - time.time() % 60)
    limit = 4 * BLOCKS_PER_WINDOW  # blocks of 4
    first, second = Allowances(), Allowances()
    decisions = [(first if n % 3 else second).take(7, limit) for n in range(limit + 40)]
    granted = [decision for decision in decisions if decision.granted]
    assert len(granted) == limit
    refused = [decision for decision in decisions if not decision.granted]
    assert refused and all(decision.retry_at and decision.retry_at > time.time() for decision in refused)
    with sessions.begin() as session:
        used = session.scalars(select(LimitWindow.used).where(LimitWindow.account == "7")).all()
    assert used == [limit]  # every use counted in the database: the blocks, not one write per request
