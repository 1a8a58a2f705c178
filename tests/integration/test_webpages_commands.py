"""The web-page commands (commands/webpages.py) on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from commands.webpages import recount_failed, submit_and_claim, submit_pages
from db.base import utcnow
from db.claims import Lease
from db.webpages import (
    PageJob,
    PageOutcome,
    PageStatus,
    claim_pages,
    fail_abandoned,
    list_requests,
    record_outcomes,
    request_pages,
)

Sessions = sessionmaker[Session]
MAX_ATTEMPTS = 3
FOUND, MISSING, LOST, WAITING = (
    f"http://127.0.0.1:9/{name}" for name in ("found", "missing", "lost", "waiting")
)
REFUSED = "ftp://x"


def claim(sessions: Sessions, request_id: int, limit: int, minutes_ago: int = 0) -> dict[str, int]:
    """Claim up to ``limit`` pages of the request as of ``minutes_ago``; URL → id of those claimed."""
    now = utcnow() - timedelta(minutes=minutes_ago)
    with sessions.begin() as session:
        pages = claim_pages(
            session, limit=limit, lease=Lease(60), max_attempts=MAX_ATTEMPTS, request_id=request_id, now=now
        )
        return {page.url: page.id for page in pages}


def pages_by_url(sessions: Sessions, request_id: int) -> dict[str, PageJob]:
    with sessions.begin() as session:
        pages = request_pages(session, request_id=request_id)
        session.expunge_all()
    return {page.url: page for page in pages}


def record(sessions: Sessions, *outcomes: PageOutcome) -> None:
    with sessions.begin() as session:
        record_outcomes(session, outcomes=outcomes)


@pytest.fixture
def request_id(sessions: Sessions) -> int:
    """A request with a page refused at submission, one counted, one failed with HTTP 404, one failed by
    the sweep (its worker lost every time), and one being fetched."""
    request_id = submit_pages(
        [FOUND, MISSING, LOST, WAITING, REFUSED], "python", source="cli", sessions=sessions
    ).id
    ids = claim(sessions, request_id, limit=3, minutes_ago=10)  # found, missing, lost
    record(
        sessions,
        PageOutcome(id=ids[FOUND], count=4, http_status=200),
        PageOutcome(id=ids[MISSING], http_status=404, error="HTTP 404 Not Found"),
    )
    assert claim(sessions, request_id, limit=1, minutes_ago=8) == {LOST: ids[LOST]}  # its lease lapsed
    assert claim(sessions, request_id, limit=1, minutes_ago=6) == {LOST: ids[LOST]}
    with sessions.begin() as session:
        assert fail_abandoned(session, max_attempts=MAX_ATTEMPTS) == 1
    assert list(claim(sessions, request_id, limit=1)) == [WAITING]
    return request_id


def test_recount_puts_the_fetched_failed_pages_back_keeping_their_last_result(
    sessions: Sessions, request_id: int
) -> None:
    other = submit_pages([MISSING], "python", source="cli", sessions=sessions).id
    record(sessions, PageOutcome(id=claim(sessions, other, limit=1)[MISSING], error="HTTP 404 Not Found"))
    with sessions.begin() as session:
        (before,) = list_requests(session, request_ids=[request_id])
    assert (before.failed, before.refused, before.recountable) == (3, 1, 2)

    assert recount_failed(request_id, sessions=sessions) == 2

    pages = pages_by_url(sessions, request_id)
    for url in (MISSING, LOST):
        page = pages[url]
        assert (page.status, page.attempts, page.started_at, page.finished_at) == (
            PageStatus.NOT_STARTED, 0, None, None
        )  # fmt: skip
    assert (pages[MISSING].http_status, pages[MISSING].last_error) == (404, "HTTP 404 Not Found")
    assert pages[LOST].last_error.startswith("gave up")
    assert (pages[FOUND].status, pages[FOUND].count) == (PageStatus.FINISHED, 4)
    assert (pages[WAITING].status, pages[WAITING].attempts) == (PageStatus.PENDING, 1)
    assert pages[REFUSED].status == PageStatus.FAILED and pages[REFUSED].last_error.startswith("refused: ")
    assert pages_by_url(sessions, other)[MISSING].status == PageStatus.FAILED  # another request's
    with sessions.begin() as session:
        (after,) = list_requests(session, request_ids=[request_id])
    assert (after.not_started, after.failed, after.refused, after.recountable) == (2, 1, 1, 0)


def test_recounted_pages_are_claimed_again_and_their_new_result_replaces_the_old(
    sessions: Sessions, request_id: int
) -> None:
    recount_failed(request_id, sessions=sessions)

    ids = claim(sessions, request_id, limit=10)  # the lost page too: its attempts start again

    assert set(ids) == {MISSING, LOST}
    record(sessions, PageOutcome(id=ids[MISSING], count=2, http_status=200))
    page = pages_by_url(sessions, request_id)[MISSING]
    assert (page.status, page.count, page.http_status, page.last_error, page.attempts) == (
        PageStatus.FINISHED, 2, 200, None, 1
    )  # fmt: skip
    assert page.started_at is not None and page.finished_at is not None


def test_recount_again_finds_nothing_and_an_unknown_request_is_an_error(
    sessions: Sessions, request_id: int
) -> None:
    assert recount_failed(request_id, sessions=sessions) == 2
    assert recount_failed(request_id, sessions=sessions) == 0
    with pytest.raises(ValueError, match=f"there is no request {request_id + 1}"):
        recount_failed(request_id + 1, sessions=sessions)


def test_a_request_stored_for_a_run_holds_its_first_pages_under_the_runs_lease(sessions: Sessions) -> None:
    lease = Lease(60)
    created, claimed = submit_and_claim(
        [REFUSED, FOUND, MISSING, LOST, WAITING],
        "python",
        source="flow",
        lease=lease,
        limit=2,
        sessions=sessions,
    )

    assert [(page.url, page.word) for page in claimed] == [(FOUND, "python"), (MISSING, "python")]
    pages = pages_by_url(sessions, created.id)
    assert [(pages[url].status, pages[url].attempts, pages[url].claimed_by) for url in (FOUND, MISSING)] == [
        (PageStatus.PENDING, 1, lease.owner)
    ] * 2
    assert pages[REFUSED].status == PageStatus.FAILED
    assert claim(sessions, created.id, limit=5) == {LOST: pages[LOST].id, WAITING: pages[WAITING].id}
