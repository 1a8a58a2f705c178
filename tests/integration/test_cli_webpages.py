"""The ``pages`` command group (cli/webpages.py) on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from cli.app import app
from db.claims import Lease
from db.webpages import PageOutcome, PageStatus, claim_pages, list_requests, record_outcomes, request_pages
from deployments import runs

Sessions = sessionmaker[Session]
Run = Callable[..., Result]
PAGE, OTHER = "http://127.0.0.1:9/page", "http://127.0.0.1:9/other"
REFUSAL = "refused ftp://x: only http and https URLs are fetched"


@pytest.fixture
def run(sessions: Sessions) -> Run:
    """``python -m cli ARGS…`` on the test database."""
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The requests processing was started for (the run itself is not started)."""
    requests: list[int] = []
    monkeypatch.setattr(runs, "start_processing", lambda request_id: requests.append(request_id) or "started")
    return requests


def submitted(run: Run, *args: str) -> int:
    result = run("pages", "submit", *args)
    assert result.exit_code == 0, result.output
    return int(result.stdout.split()[1].rstrip(":"))


def fail_first_page(sessions: Sessions, request_id: int) -> None:
    """The first page of the request fetched and failed (HTTP 503); any other waits."""
    with sessions.begin() as session:
        (page,) = claim_pages(session, limit=1, lease=Lease(60), max_attempts=3, request_id=request_id)
        record_outcomes(
            session, outcomes=[PageOutcome(id=page.id, http_status=503, error="HTTP 503 Unavailable")]
        )


def test_submit_stores_the_request_says_what_was_refused_and_what_run_started(
    run: Run, sessions: Sessions
) -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = run("pages", "submit", PAGE, "ftp://x", "HTTP://127.0.0.1:9/page", "--word", "Data")

    assert result.exit_code == 0, result.output
    with sessions.begin() as session:
        (summary,) = list_requests(session)
        pages = {page.url: page.status for page in request_pages(session, request_id=summary.id)}
    assert (summary.word, summary.source) == ("Data", "cli")
    assert pages == {PAGE: PageStatus.NOT_STARTED, "ftp://x": PageStatus.FAILED}
    first, refusal, start = result.stdout.splitlines()
    assert first == f"request {summary.id}: count 'Data'; 1 URL accepted, 1 refused"
    assert refusal.startswith(REFUSAL)
    assert start.startswith(f"Request {summary.id} is stored; no Prefect server is configured")


def test_submit_with_nothing_to_fetch_starts_no_run_and_exits_1(
    run: Run, sessions: Sessions, started: list[int]
) -> None:
    result = run("pages", "submit", "ftp://x", "http://10.0.0.1/")

    assert result.exit_code == 1
    assert "0 URLs accepted, 2 refused" in result.stdout and "nothing will be counted" in result.stderr
    assert started == []


@pytest.mark.parametrize(
    ("args", "message"), [([PAGE, "--word", " "], "the word is empty"), (["  "], "no URLs given")]
)
def test_submit_refuses_bad_input_and_stores_nothing(
    run: Run, sessions: Sessions, started: list[int], args: list[str], message: str
) -> None:
    result = run("pages", "submit", *args)

    assert result.exit_code == 2 and message in result.stderr
    with sessions.begin() as session:
        assert list_requests(session) == []
    assert started == []


def test_list_shows_the_newest_request_first_with_its_pages_by_status(
    run: Run, sessions: Sessions, started: list[int]
) -> None:
    first = submitted(run, PAGE, OTHER, "ftp://x", "--word", "python")
    second = submitted(run, PAGE)
    fail_first_page(sessions, first)

    result = run("pages", "list")

    assert result.exit_code == 0, result.output
    header, *rows = (line.split() for line in result.stdout.splitlines())
    assert header[-5:] == ["not_started", "pending", "finished", "failed", "refused"]
    assert [(row[0], row[-6:]) for row in rows] == [
        (str(second), ["1", "1", "0", "0", "0", "0"]),
        (str(first), ["3", "1", "0", "0", "2", "1"]),
    ]
    assert started == [first, second]


def test_show_lists_the_pages_with_status_count_and_error(
    run: Run, sessions: Sessions, started: list[int]
) -> None:
    request_id = submitted(run, PAGE, OTHER, "ftp://x", "--word", "python")
    fail_first_page(sessions, request_id)

    result = run("pages", "show", str(request_id))

    assert result.exit_code == 0, result.output
    summary, header, *rows = result.stdout.splitlines()
    assert summary.startswith(f"request {request_id}: 'python', 2 of 3 pages done, created ")
    assert header.split() == ["url", "status", "count", "HTTP", "error"]
    assert [row.split()[:3] for row in rows] == [
        [PAGE, "failed", "503"],
        [OTHER, "not_started"],
        ["ftp://x", "failed", "refused:"],
    ]
    assert rows[0].endswith("HTTP 503 Unavailable") and "only http and https" in rows[2]
    assert run("pages", "show", str(request_id + 1)).stderr == f"there is no request {request_id + 1}\n"


def test_rerun_queues_the_failed_pages_again_and_starts_counting(
    run: Run, sessions: Sessions, started: list[int]
) -> None:
    request_id = submitted(run, PAGE, OTHER, "ftp://x")
    fail_first_page(sessions, request_id)

    result = run("pages", "rerun", str(request_id))

    assert result.exit_code == 0, result.output
    queued, refused, start = result.stdout.splitlines()
    assert queued == f"request {request_id}: 1 failed page queued to be counted again"
    assert refused.startswith("not re-counted: 1 URL refused when the request was stored")
    assert start == "started" and started == [request_id, request_id]
    with sessions.begin() as session:
        statuses = [page.status for page in request_pages(session, request_id=request_id)]
    assert statuses == [PageStatus.NOT_STARTED, PageStatus.NOT_STARTED, PageStatus.FAILED]

    again = run("pages", "rerun", str(request_id))

    assert again.exit_code == 0 and "0 failed pages queued" in again.stdout
    assert started == [request_id, request_id]  # nothing to count again: no run
    unknown = run("pages", "rerun", str(request_id + 1))
    assert (unknown.exit_code, unknown.stderr) == (2, f"there is no request {request_id + 1}\n")
