"""Status transitions, claims and queries of db/webpages.py on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import ipaddress
import threading
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session, sessionmaker

from db.base import Base, utcnow
from db.claims import Lease
from db.engine import get_engine
from db.webpages import (
    PageOutcome,
    PageStatus,
    claim_pages,
    create_request,
    fail_abandoned,
    list_requests,
    record_outcomes,
    request_pages,
    status_totals,
)

Sessions = sessionmaker[Session]
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


def add_request(sessions: Sessions, count: int, word: str = "python") -> int:
    urls = [f"http://127.0.0.1:9/page/{n}" for n in range(count)]
    with sessions.begin() as session:
        return create_request(session, urls=urls, word=word, allowed=LOOPBACK).id


def claim(sessions: Sessions, limit: int = 100, **kwargs: object) -> list[int]:
    options = {"lease": Lease(60), "max_attempts": 3} | kwargs
    with sessions.begin() as session:
        return [page.id for page in claim_pages(session, limit=limit, **options)]


def test_migrations_match_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_bad_urls_are_stored_failed_and_good_ones_wait(sessions: Sessions) -> None:
    urls = ["http://127.0.0.1:9/ok", "ftp://x", "http://", "http://10.0.0.1/", "http://127.0.0.1:9/ok"]
    with sessions.begin() as session:
        created = create_request(session, urls=urls, word="  Python  ", allowed=LOOPBACK)
    assert created.word == "Python"
    assert created.accepted == 1
    assert set(created.refused) == {"ftp://x", "http://", "http://10.0.0.1/"}
    with sessions.begin() as session:
        pages = request_pages(session, request_id=created.id)
        assert [page.status for page in pages] == [
            PageStatus.NOT_STARTED,
            PageStatus.FAILED,
            PageStatus.FAILED,
            PageStatus.FAILED,
        ]
        assert all(page.last_error.startswith("refused: ") and page.finished_at for page in pages[1:])


def test_duplicates_are_removed_after_the_urls_are_normalised(sessions: Sessions) -> None:
    urls = [
        "HTTP://A.Example/",
        "http://a.example",
        " http://a.example:80/#top ",
        "https://a.example/",
        "ftp://x",
        "ftp://x",
    ]
    with sessions.begin() as session:
        created = create_request(session, urls=urls, word="python")
    assert (created.accepted, list(created.refused)) == (2, ["ftp://x"])
    with sessions.begin() as session:
        pages = request_pages(session, request_id=created.id)
        assert [page.url for page in pages] == ["http://a.example/", "https://a.example/", "ftp://x"]


@pytest.mark.parametrize(
    ("urls", "word", "message"),
    [([], "python", "no URLs"), (["  "], "python", "no URLs"), (["http://a.example"], "   ", "word")],
)
def test_invalid_requests_store_nothing(sessions: Sessions, urls: list[str], word: str, message: str) -> None:
    with pytest.raises(ValueError, match=message), sessions.begin() as session:
        create_request(session, urls=urls, word=word)
    with sessions.begin() as session:
        assert list_requests(session) == []


def test_too_many_urls_are_refused(sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="at most 2"), sessions.begin() as session:
        create_request(
            session,
            urls=["http://a.example/1", "http://a.example/2", "http://a.example/3"],
            word="x",
            max_urls=2,
        )


def test_claims_take_each_page_once_and_set_the_lease(sessions: Sessions) -> None:
    add_request(sessions, 5)
    first, second, third = claim(sessions, 3), claim(sessions, 3), claim(sessions, 3)
    assert len(first) == 3 and len(second) == 2 and third == []
    assert not set(first) & set(second)
    with sessions.begin() as session:
        for page in request_pages(session, request_id=list_requests(session)[0].id):
            assert page.status == PageStatus.PENDING
            assert page.attempts == 1
            assert page.claimed_until > utcnow() + timedelta(seconds=50)


def test_concurrent_claimers_never_share_a_page(sessions: Sessions) -> None:
    add_request(sessions, 400)
    taken: list[list[int]] = []
    lock = threading.Lock()

    def worker() -> None:
        mine: list[int] = []
        while batch := claim(sessions, 7):
            mine.extend(batch)
        with lock:
            taken.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [page_id for mine in taken for page_id in mine]
    assert len(every) == 400
    assert len(set(every)) == 400


def test_a_lapsed_lease_returns_the_page_and_too_many_lapses_fail_it(sessions: Sessions) -> None:
    add_request(sessions, 1)
    later = utcnow() + timedelta(seconds=61)
    assert claim(sessions, now=utcnow() - timedelta(seconds=1)) != []
    assert claim(sessions) == []  # lease still held
    assert claim(sessions, now=later) != []  # lease lapsed: the page comes back
    with sessions.begin() as session:
        assert fail_abandoned(session, max_attempts=2, now=later + timedelta(seconds=61)) == 1
        (page,) = request_pages(session, request_id=list_requests(session)[0].id)
        assert page.status == PageStatus.FAILED
        assert "gave up" in page.last_error
        assert page.attempts == 2


def test_claims_can_be_limited_to_one_request(sessions: Sessions) -> None:
    add_request(sessions, 2)
    other = add_request(sessions, 2)
    claimed = claim(sessions, request_id=other)
    with sessions.begin() as session:
        assert {page.id for page in request_pages(session, request_id=other)} == set(claimed)


def test_the_first_pages_of_a_request_are_read_without_the_rest(sessions: Sessions) -> None:
    request_id = add_request(sessions, 5)
    with sessions.begin() as session:
        first = [page.url for page in request_pages(session, request_id=request_id, limit=2)]
        every = [page.url for page in request_pages(session, request_id=request_id)]
    assert first == every[:2] and len(every) == 5


def test_outcomes_finish_or_fail_pages_in_one_batch(sessions: Sessions) -> None:
    request_id = add_request(sessions, 3)
    ids = claim(sessions)
    outcomes = [
        PageOutcome(
            id=ids[0],
            count=4,
            http_status=200,
            final_url="http://x/",
            content_type="text/html",
            charset="utf-8",
            bytes_read=10,
            elapsed_ms=5,
        ),
        PageOutcome(id=ids[1], http_status=404, error="HTTP 404 Not Found", elapsed_ms=3),
    ]
    with sessions.begin() as session:
        record_outcomes(session, outcomes=outcomes)
    with sessions.begin() as session:
        first, second, third = request_pages(session, request_id=request_id)
        assert (first.status, first.count, first.charset, first.claimed_until) == (
            PageStatus.FINISHED,
            4,
            "utf-8",
            None,
        )
        assert (second.status, second.http_status, second.last_error) == (
            PageStatus.FAILED,
            404,
            "HTTP 404 Not Found",
        )
        assert third.status == PageStatus.PENDING
        (summary,) = list_requests(session)
        assert (summary.total, summary.finished, summary.failed, summary.pending, summary.done) == (
            3,
            1,
            1,
            1,
            False,
        )
        totals = status_totals(session)
        assert totals[PageStatus.FINISHED] == 1 and totals[PageStatus.NOT_STARTED] == 0
