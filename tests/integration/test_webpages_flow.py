"""Real flow runs (Prefect test harness) against the sandbox and a real database."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import aiohttp
import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from prefect.exceptions import ParameterTypeError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import tasks.page_work
import tasks.webpages
from connectors.web import FetchedPage
from core.settings import FetchSettings, get_settings
from db.base import utcnow
from db.claims import Lease
from db.webpages import (
    PageJob,
    PageStatus,
    PageToFetch,
    claim_pages,
    create_request,
    list_requests,
    request_pages,
)
from flows.webpages import count_words, process_pending
from sandbox.webpages import EXPECTED_CHINESE, EXPECTED_COUNTS, EXPECTED_RUSSIAN
from tests.integration.plain_pages import page_count, running_plain_server

pytestmark = pytest.mark.usefixtures("prefect_harness")
Sessions = sessionmaker[Session]


@pytest.fixture
def web_pages_settings() -> Iterator[Callable[..., None]]:
    """Change ``SWITCHYARD_WEBPAGES__*`` settings for one test (``web_pages_settings(lanes=1)``)."""
    saved = dict(os.environ)

    def apply(**values: object) -> None:
        os.environ.update(
            {f"SWITCHYARD_WEBPAGES__{name.upper()}": str(value) for name, value in values.items()}
        )
        get_settings.cache_clear()

    yield apply
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


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


def test_ten_batches_on_a_server_that_reads_no_bodies_count_every_page(
    sessions: Sessions, web_pages_settings: Callable[..., None]
) -> None:
    web_pages_settings(batch_size=3)  # 30 pages: 10 batches, on the connections of one client
    with running_plain_server() as server:
        base = server.url
        pages = {f"{base}/page/{n}": page_count(n) for n in range(1, 11)}
        redirects = {f"{base}/redirect/{n}": page_count(0) for n in range(1, 6)}
        loops = [f"{base}/loop", f"{base}/ping", f"{base}/loop?again=1", f"{base}/ping?again=1"]
        urls = [*pages, *redirects, *loops, *(f"{base}/page/{n}?second=1" for n in range(1, 12))]
        result = asyncio.run(count_words(urls=urls))
    stored = pages_by_url(sessions, result["request_id"])

    assert len(urls) == 30 and result["unfinished"] == 0
    for url, expected in pages.items() | redirects.items():
        assert (url, stored[url].status, stored[url].count) == (url, PageStatus.FINISHED, expected)
    for n in range(1, 12):
        assert stored[f"{base}/page/{n}?second=1"].count == page_count(n)
    for url in loops:
        assert stored[url].status == PageStatus.FAILED and "redirect loop" in stored[url].last_error
    assert server.seen.errors == []
    assert all(encoding is None for _port, _path, encoding in server.seen.requests)


def test_the_batches_of_a_run_reuse_its_connections(
    sessions: Sessions, web_pages_settings: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_FETCH__CONCURRENCY", "3")
    web_pages_settings(batch_size=3, lanes=1)  # 12 pages: 4 batches one after the other
    with running_plain_server() as server:
        urls = [f"{server.url}/page/{n}" for n in range(1, 13)]
        result = asyncio.run(count_words(urls=urls))
    connections = {port for port, _path, _encoding in server.seen.requests}

    assert result["finished"] == 12
    assert len(server.seen.requests) == 12 and len(connections) <= 3  # a client a batch opened 4 or more


def test_a_small_request_is_shared_out_among_lanes_and_helpers() -> None:
    assert tasks.page_work.share_size(1000, 3, 500) == 334
    assert tasks.page_work.share_size(10_000, 3, 500) == 500
    assert tasks.page_work.share_size(2, 3, 500) == 1


def test_a_url_with_credentials_is_refused_and_the_rest_are_counted(
    sessions: Sessions, sandbox_url: str
) -> None:
    port = sandbox_url.rsplit(":", 1)[1]
    with_credentials = f"http://user:pw@127.0.0.1:{port}/pages/utf8"
    good = f"{sandbox_url}/pages/plain"
    result = asyncio.run(count_words(urls=[with_credentials, good]))

    pages = pages_by_url(sessions, result["request_id"])
    assert (result["finished"], result["failed"]) == (1, 1)
    assert pages[good].count == EXPECTED_COUNTS["/plain"]
    assert pages[with_credentials].last_error == (
        "refused: the URL holds a user name or password (before the @); pages are fetched without "
        "logging in, so remove them"
    )


def test_the_pages_claimed_with_a_request_are_shared_out_among_the_lanes_in_order() -> None:
    claimed = tasks.page_work.ClaimedPages(
        Lease(60), [PageToFetch(id=n, url=f"u{n}", word="w") for n in range(5)]
    )

    def ids(shares: list[tasks.page_work.ClaimedPages]) -> list[list[int]]:
        assert all(share.lease is claimed.lease for share in shares)
        return [[page.id for page in share.pages] for share in shares]

    assert ids(claimed.share(2)) == [[0, 1, 2], [3, 4]]
    assert ids(claimed.share(3)) == [[0, 1], [2, 3], [4]]
    assert ids(tasks.page_work.ClaimedPages(claimed.lease, claimed.pages[:1]).share(2)) == [[0], []]


def test_a_run_fetches_the_pages_it_stored_without_claiming_them_again(
    sessions: Sessions, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims: list[int | None] = []
    real_claim_pages = tasks.page_work.claim_pages

    def claim_pages(session: Session, **arguments: object) -> list[PageToFetch]:
        claims.append(arguments.get("request_id"))  # type: ignore[arg-type]
        return real_claim_pages(session, **arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks.page_work, "claim_pages", claim_pages)
    urls = [f"{sandbox_url}/pages/gen/{n}" for n in range(30)]
    result = asyncio.run(count_words(urls=urls))

    pages = pages_by_url(sessions, result["request_id"])
    assert claims == []  # claimed in the store's transaction, for the lanes' first batches
    assert [pages[url].count for url in urls] == [n % 7 for n in range(30)]
    assert {pages[url].attempts for url in urls} == {1}


def test_an_unexpected_error_of_one_page_is_that_pages_error_only(
    sessions: Sessions, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = f"{sandbox_url}/pages/utf8?crash=1"
    real_fetch_page = tasks.page_work.fetch_page

    async def fetch_page(client: aiohttp.ClientSession, url: str, settings: FetchSettings) -> FetchedPage:
        if url == crashing:  # as aiohttp's ValueError for a URL with credentials did before it was refused
            raise ValueError("Cannot combine AUTHORIZATION header with AUTH argument")
        return await real_fetch_page(client, url, settings)

    monkeypatch.setattr(tasks.page_work, "fetch_page", fetch_page)
    good = [f"{sandbox_url}/pages/gen/{n}" for n in range(20)]
    result = asyncio.run(count_words(urls=[*good[:10], crashing, *good[10:]]))

    pages = pages_by_url(sessions, result["request_id"])
    assert (result["finished"], result["failed"], result["unfinished"]) == (20, 1, 0)
    assert [pages[url].count for url in good] == [n % 7 for n in range(20)]
    assert pages[crashing].last_error == (
        "unexpected error: ValueError: Cannot combine AUTHORIZATION header with AUTH argument"
    )
    assert pages[crashing].attempts == 1


def test_a_fast_page_is_stored_while_a_hanging_page_of_its_batch_is_still_pending(
    sessions: Sessions, sandbox_url: str, web_pages_settings: Callable[..., None]
) -> None:
    web_pages_settings(lanes=1)  # both pages in one batch
    fast, hanging = f"{sandbox_url}/pages/utf8", f"{sandbox_url}/pages/hang"
    when_fast_finished: dict[str, PageStatus] = {}
    stop = threading.Event()

    def watch() -> None:
        """Read the statuses until the fast page is finished; keep them as they were then."""
        while not stop.is_set():
            with sessions.begin() as session:
                statuses = {
                    url: status for url, status in session.execute(select(PageJob.url, PageJob.status))
                }
            if statuses.get(fast) == PageStatus.FINISHED:
                when_fast_finished.update(statuses)
                return
            stop.wait(0.05)  # the polling interval

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = asyncio.run(count_words(urls=[fast, hanging]))
    finally:
        stop.set()
        watcher.join()

    assert when_fast_finished == {fast: PageStatus.FINISHED, hanging: PageStatus.PENDING}
    assert (result["finished"], result["failed"]) == (1, 1)
    assert "no complete answer" in pages_by_url(sessions, result["request_id"])[hanging].last_error


def test_the_report_shows_the_first_pages_and_counts_them_all(sessions: Sessions) -> None:
    urls = [f"http://127.0.0.1:9/page/{n}" for n in range(tasks.webpages.ARTIFACT_ROWS + 50)]
    with sessions.begin() as session:
        created = create_request(
            session, urls=urls, word="python", allowed=get_settings().fetch.allowed_networks
        )

    summary = asyncio.run(tasks.webpages.report_request(created.id))

    async def artifact_rows() -> list[dict[str, object]]:
        key = f"word-counts-request-{created.id}"
        async with get_client() as client:
            (artifact,) = await client.read_artifacts(  # the latest: request ids recur between tests
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
        return json.loads(artifact.data)

    rows = asyncio.run(artifact_rows())
    assert summary == {"total": len(urls), "finished": 0, "failed": 0, "unfinished": len(urls)}
    assert [row["url"] for row in rows] == urls[: tasks.webpages.ARTIFACT_ROWS]


def test_what_a_helper_process_runs_counts_batches_until_nothing_is_left(
    sessions: Sessions, sandbox_url: str, web_pages_settings: Callable[..., None]
) -> None:
    web_pages_settings(batch_size=7)
    urls = [f"{sandbox_url}/pages/gen/{n}" for n in range(20)]
    with sessions.begin() as session:
        created = create_request(
            session, urls=urls, word="python", allowed=get_settings().fetch.allowed_networks
        )

    results = tasks.page_work.count_in_helper(created.id)

    assert [result.claimed for result in results] == [7, 7, 6, 0]
    pages = pages_by_url(sessions, created.id)
    assert [pages[url].count for url in urls] == [n % 7 for n in range(20)]


def test_a_helper_process_counts_beside_the_lanes(
    sessions: Sessions, sandbox_url: str, web_pages_settings: Callable[..., None]
) -> None:
    web_pages_settings(helper_processes=1, helper_from=1, batch_size=5, lanes=1)
    urls = [f"{sandbox_url}/pages/gen/{n}" for n in range(60)]

    result = asyncio.run(count_words(urls=urls))

    assert (result["finished"], result["failed"], result["unfinished"]) == (60, 0, 0)
    pages = pages_by_url(sessions, result["request_id"])
    assert [pages[url].count for url in urls] == [n % 7 for n in range(60)]
