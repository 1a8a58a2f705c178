"""Real flow runs (Prefect test harness) against the sandbox and a real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect import get_client
from prefect.exceptions import ParameterTypeError
from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings
from db.base import utcnow
from db.claims import Lease
from db.webpages import PageStatus, claim_pages, create_request, list_requests, request_pages
from flows.webpages import count_words, process_pending
from sandbox.webpages import EXPECTED_CHINESE, EXPECTED_COUNTS, EXPECTED_RUSSIAN

pytestmark = pytest.mark.usefixtures("prefect_harness")
Sessions = sessionmaker[Session]


def pages_by_url(sessions: Sessions, request_id: int) -> dict[str, object]:
    with sessions.begin() as session:
        return {page.url: page for page in request_pages(session, request_id=request_id)}


def test_counts_are_right_and_bad_urls_fail_alone(sessions: Sessions, sandbox_url: str) -> None:
    good = {
        f"{sandbox_url}/pages{path}": count
        for path, count in EXPECTED_COUNTS.items()
        if path != "/status/404"
    }
    good |= {
        f"{sandbox_url}/pages/cp1251?declare={d}": EXPECTED_COUNTS["/cp1251"]
        for d in ("header", "meta", "none")
    }
    good |= {
        f"{sandbox_url}/pages/gb2312?declare={d}": EXPECTED_COUNTS["/gb2312"]
        for d in ("header", "meta", "none")
    }
    good[f"{sandbox_url}/pages/redirect/2"] = EXPECTED_COUNTS["/utf8"]
    bad = {
        "ftp://x": "only http and https",
        "http://": "no host",
        "http://10.0.0.1/": "private",
        f"{sandbox_url}/pages/status/404": "HTTP 404",
        f"{sandbox_url}/pages/status/500": "HTTP 500",
        f"{sandbox_url}/pages/redirect-loop": "redirects",
        f"{sandbox_url}/pages/hang": "no complete answer",
        f"{sandbox_url}/pages/large?mb=50": "too large",
        f"{sandbox_url}/pages/binary": "binary",
        f"{sandbox_url}/pages/binary?type=text/html": "binary",
        f"{sandbox_url}/pages/redirect-to?url=http://169.254.169.254/": "link-local",
    }
    result = asyncio.run(count_words(urls=[*good, *bad], word="python"))

    assert result["total"] == len(good) + len(bad)
    assert (result["finished"], result["failed"], result["unfinished"]) == (len(good), len(bad), 0)
    pages = pages_by_url(sessions, result["request_id"])
    for url, expected in good.items():
        page = pages[url]
        assert (url, page.status, page.count) == (url, PageStatus.FINISHED, expected)
        assert page.http_status == 200 and page.finished_at and page.elapsed_ms is not None
    for url, reason in bad.items():
        page = pages[url]
        assert page.status == PageStatus.FAILED and page.count is None
        assert reason in page.last_error, (url, page.last_error)
    assert pages[f"{sandbox_url}/pages/gb2312?declare=none"].charset == "gb18030"
    assert pages[f"{sandbox_url}/pages/cp1251?declare=none"].charset == "windows-1251"


def test_other_scripts_are_counted_by_their_own_rules(sessions: Sessions, sandbox_url: str) -> None:
    for path, (word, expected) in (EXPECTED_CHINESE | EXPECTED_RUSSIAN).items():
        result = asyncio.run(count_words(urls=[f"{sandbox_url}/pages{path}"], word=word))
        (page,) = pages_by_url(sessions, result["request_id"]).values()
        assert (path, page.count) == (path, expected)


def test_generated_pages_match_their_expected_counts(sessions: Sessions, sandbox_url: str) -> None:
    urls = [f"{sandbox_url}/pages/gen/{n}" for n in range(120)]
    result = asyncio.run(count_words(urls=urls))
    pages = pages_by_url(sessions, result["request_id"])
    assert [pages[url].count for url in urls] == [n % 7 for n in range(120)]


def test_process_pending_finishes_new_and_abandoned_pages(sessions: Sessions, sandbox_url: str) -> None:
    allowed = get_settings().fetch.allowed_networks
    with sessions.begin() as session:
        waiting = create_request(
            session, urls=[f"{sandbox_url}/pages/utf8"], word="python", source="dashboard", allowed=allowed
        )
        crashed = create_request(session, urls=[f"{sandbox_url}/pages/plain"], word="python", allowed=allowed)
    with sessions.begin() as session:  # a run that claimed the page and died: its lease has lapsed
        claim_pages(
            session,
            limit=1,
            lease=Lease(1),
            max_attempts=3,
            request_id=crashed.id,
            now=utcnow() - timedelta(seconds=5),
        )

    totals = asyncio.run(process_pending())

    assert totals["claimed"] == 2 and totals["finished"] == 2
    with sessions.begin() as session:
        assert all(summary.done for summary in list_requests(session))
        (page,) = request_pages(session, request_id=crashed.id)
        assert (page.status, page.count, page.attempts) == (PageStatus.FINISHED, EXPECTED_COUNTS["/plain"], 2)
        assert request_pages(session, request_id=waiting.id)[0].count == EXPECTED_COUNTS["/utf8"]


def test_bad_flow_parameters_are_refused_before_anything_is_stored(sessions: Sessions) -> None:
    with pytest.raises(ParameterTypeError):
        asyncio.run(count_words(urls=[], word="python"))
    with pytest.raises(ParameterTypeError):
        asyncio.run(count_words(urls=["http://example.com"], word="x" * 101))
    with sessions.begin() as session:
        assert list_requests(session) == []


def test_flow_and_task_runs_say_what_they_did(sessions: Sessions, sandbox_url: str) -> None:
    asyncio.run(count_words(urls=[f"{sandbox_url}/pages/utf8", f"{sandbox_url}/pages/plain"], word="python"))

    async def names() -> tuple[list[str], list[str]]:
        async with get_client() as client:
            flow_runs = await client.read_flow_runs()
            task_runs = await client.read_task_runs()
        return [run.name for run in flow_runs], [run.name for run in task_runs]

    flow_names, task_names = asyncio.run(names())
    assert "count 2 urls for 'python'" in flow_names
    assert any(name.startswith("count request ") and "lane 1 batch 1" in name for name in task_names)
