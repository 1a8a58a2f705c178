"""Transactions run again when PostgreSQL aborts them to break a deadlock or a serialization conflict.

Two writers that update the same rows in different orders (a sender recording outcomes while a
mailing is cancelled, two senders recording one message after a lease lapsed) can deadlock; PostgreSQL
then aborts one of them (SQLSTATE 40P01) and the other goes on. The aborted transaction changed
nothing, so running it again is safe when the work has no effect outside the database.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
ATTEMPTS = 5


def aborted_to_resolve_a_conflict(error: DBAPIError) -> bool:
    """Whether the database aborted the transaction only to let another one go on."""
    return getattr(error.orig, "pgcode", None) in RETRYABLE


def in_transaction(
    sessions: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = ATTEMPTS
) -> T:
    """``work(session)`` in one transaction of ``sessions``, run again (``attempts`` times in all, after
    a short random pause) when the database aborts it to break a deadlock. ``work`` must change
    nothing but the database; any other error is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            with sessions.begin() as session:
                return work(session)
        except DBAPIError as exc:
            if attempt == attempts or not aborted_to_resolve_a_conflict(exc):
                raise
            logger.info("aborted to break a deadlock (attempt %d of %d): run again", attempt, attempts)
            time.sleep(random.uniform(0, 0.02 * attempt))
    raise AssertionError("unreachable: the last attempt returns or raises")
