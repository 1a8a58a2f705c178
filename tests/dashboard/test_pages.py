"""The dashboard pages under AppTest, on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from prefect import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from core.settings import get_settings
from db.claims import Lease
from db.webpages import (
    PageOutcome,
    PageStatus,
    claim_pages,
    create_request,
    list_requests,
    record_outcomes,
    request_pages,
)
from deployments.runs import COUNT_REQUEST, start_processing
from flows.webpages import process_pending

Sessions = sessionmaker[Session]
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
WEBPAGES = APP.parent / "views" / "webpages.py"
SCHEDULED = "pick it up within a minute"


@pytest.fixture
def seeded(sessions: Sessions) -> tuple[int, int]:
    """Two requests: one done (a count, an HTTP error, a refused URL), one waiting (pending, not started)."""
    allowed = get_settings().fetch.allowed_networks
    with sessions.begin() as session:
        done = create_request(
            session,
            urls=["https://a.example/", "https://b.example/", "ftp://x"],
            word="python",
            allowed=allowed,
        )
        waiting = create_request(
            session, urls=["https://c.example/", "https://d.example/"], word="data", allowed=allowed
        )
    with sessions.begin() as session:
        ids = {page.url: page.id for page in request_pages(session, request_id=done.id)}
        record_outcomes(
            session,
            outcomes=[
                PageOutcome(
                    id=ids["https://a.example/"], count=7, http_status=200, charset="utf-8", bytes_read=900
                ),
                PageOutcome(id=ids["https://b.example/"], http_status=404, error="HTTP 404 Not Found"),
            ],
        )
        claim_pages(session, limit=1, lease=Lease(60), max_attempts=3, request_id=waiting.id)
    return done.id, waiting.id


def shown_pages(at: AppTest) -> dict[str, dict[str, object]]:
    """The per-URL table of the selected request, by URL."""
    return {row["url"]: row for row in at.table[0].value.to_dict("records")}


def test_overview_shows_totals_and_recent_requests(seeded: tuple[int, int]) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()

    assert not at.exception
    assert at.title[0].value == "Switchyard"
    assert {metric.label: metric.value for metric in at.metric} == {
        "Not started": "1",
        "Pending": "1",
        "Finished": "1",
        "Failed": "2",
    }
    recent = at.table[0].value
    assert list(recent["id"]) == list(reversed(seeded))
    assert list(recent["total"]) == [2, 3] and list(recent["failed"]) == [0, 2]
    families = next(markdown.value for markdown in at.markdown if "brief analysis" in markdown.value)
    states = {
        line.split("|")[2].strip(): line.split("|")[3].strip() for line in families.strip().splitlines()[2:]
    }
    assert states.pop("web pages fetched to count a word") == "**live**"
    assert states.pop("mailings sent to a notification gateway inside a time window") == "**live**"
    assert states.pop("articles from five content platforms for keyword briefs") == "**live**"
    assert states.pop("keywords, keyword tables, word clouds, one zip per job") == "**live**"
    assert set(states.values()) == {"to come"} and len(states) == 2


def test_web_pages_show_the_newest_request_then_the_selected_one(seeded: tuple[int, int]) -> None:
    done_id, waiting_id = seeded
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("views/webpages.py").run()

    assert not at.exception
    assert at.selectbox[0].value == waiting_id
    assert sorted(row["status"] for row in shown_pages(at).values()) == ["not_started", "pending"]

    at.selectbox[0].select(done_id).run()

    assert not at.exception
    pages = shown_pages(at)
    assert list(pages) == ["https://a.example/", "https://b.example/", "ftp://x"]
    assert (pages["https://a.example/"]["status"], pages["https://a.example/"]["count"]) == ("finished", 7)
    assert pages["https://b.example/"]["HTTP"] == 404 and "HTTP 404" in pages["https://b.example/"]["error"]
    assert "only http and https" in pages["ftp://x"]["error"]
    assert at.get("progress")[0].proto.text == "3 of 3 pages done"


def test_form_stores_the_request_and_refused_urls_as_failed(sessions: Sessions) -> None:
    at = AppTest.from_file(WEBPAGES, default_timeout=30).run()
    assert not at.exception and at.text_input[0].value == get_settings().webpages.default_word

    at.text_area[0].input("https://a.example/\nftp://x\nHTTPS://A.example\n\nhttp://10.0.0.1/")
    at.text_input[0].input("Data")
    at.button[0].click().run()

    assert not at.exception
    with sessions.begin() as session:
        (summary,) = list_requests(session)
        pages = {page.url: page for page in request_pages(session, request_id=summary.id)}
    assert (summary.word, summary.source, summary.total, summary.failed) == ("Data", "dashboard", 3, 2)
    assert pages["https://a.example/"].status == PageStatus.NOT_STARTED
    assert "private" in pages["http://10.0.0.1/"].last_error and "only http" in pages["ftp://x"].last_error
    assert at.success[0].value == f"Request {summary.id} stored: 1 URL accepted."
    assert "ftp://x" in at.warning[0].value and "10.0.0.1" in at.warning[0].value
    assert "no scheduled process-pending run comes" in at.info[0].value
    assert at.selectbox[0].value == summary.id
    assert set(shown_pages(at)) == set(pages)
    assert at.text_area[0].value == "" and at.text_input[0].value == "Data"  # the URLs are cleared

    at.button[0].click().run()  # a second click stores nothing more

    assert not at.exception and "no URLs given" in at.error[0].value
    at.text_area[0].input("https://a.example/\nftp://x\nHTTPS://A.example\n\nhttp://10.0.0.1/")
    at.button[0].click().run()  # nor does typing the same request again

    assert not at.exception and "Already stored" in at.info[0].value
    with sessions.begin() as session:
        assert len(list_requests(session)) == 1


def test_one_url_per_line_keeps_spaces_inside_a_url(sessions: Sessions) -> None:
    at = AppTest.from_file(WEBPAGES, default_timeout=30).run()
    at.text_area[0].input("https://a.example/a page\n  https://b.example/  \n")
    at.button[0].click().run()

    assert not at.exception
    with sessions.begin() as session:
        (summary,) = list_requests(session)
        urls = [page.url for page in request_pages(session, request_id=summary.id)]
    assert urls == ["https://a.example/a%20page", "https://b.example/"]


def test_a_request_with_no_url_to_fetch_warns_and_says_why(sessions: Sessions) -> None:
    at = AppTest.from_file(WEBPAGES, default_timeout=30).run()
    at.text_area[0].input("ftp://x\nhttp://10.0.0.1/")
    at.button[0].click().run()

    assert not at.exception and not at.info  # nothing to count: no run started
    (warning,) = at.warning
    with sessions.begin() as session:
        (summary,) = list_requests(session)
    assert at.success[0].value == f"Request {summary.id} stored: 0 URLs accepted."
    assert warning.value.startswith("None of these URLs can be fetched, so nothing will be counted")
    assert "only http and https" in warning.value and "private" in warning.value


@pytest.mark.parametrize(
    ("urls", "word", "reason"),
    [("https://a.example/", "   ", "the word is empty"), (" \n ", "python", "no URLs given")],
)
def test_bad_form_input_shows_an_error_and_stores_nothing(
    sessions: Sessions, urls: str, word: str, reason: str
) -> None:
    at = AppTest.from_file(WEBPAGES, default_timeout=30).run()
    at.text_area[0].input(urls)
    at.text_input[0].input(word)
    at.button[0].click().run()

    assert not at.exception
    assert reason in at.error[0].value and not at.success
    assert at.text_area[0].value == urls  # kept, to be corrected
    with sessions.begin() as session:
        assert list_requests(session) == []


def test_without_a_reachable_server_the_request_is_left_to_the_schedule() -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        message = start_processing(1)
    assert "no Prefect server is configured" in message and SCHEDULED not in message
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        message = start_processing(1)
    assert (
        message.startswith("Request 1 is stored, but no run could be started now (") and SCHEDULED in message
    )


def test_start_processing_runs_the_count_request_deployment(prefect_harness: None) -> None:
    missing = start_processing(41)
    assert f"no deployment {COUNT_REQUEST}" in missing and "nothing will run it" in missing

    process_pending.to_deployment(name="count-request").apply()
    started = start_processing(41)

    prefix = f"Started flow run [count pages of request 41]({get_settings().prefect_ui_url}/runs/flow-run/"
    assert started.startswith(prefix) and ") for request 41; no serve process or worker is polling" in started
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(started.removeprefix(prefix).split(")")[0]))
    assert flow_run.parameters == {"request_id": 41}


RECOUNT = "Re-count failed pages"


def recount_buttons(at: AppTest) -> list[object]:
    return [button for button in at.button if button.label == RECOUNT]


def test_recount_puts_failed_pages_back_and_starts_counting(sessions: Sessions) -> None:
    allowed = get_settings().fetch.allowed_networks
    with sessions.begin() as session:
        created = create_request(
            session,
            urls=["https://a.example/", "https://b.example/", "ftp://x"],
            word="python",
            allowed=allowed,
        )
        pages = claim_pages(session, limit=2, lease=Lease(60), max_attempts=3, request_id=created.id)
        record_outcomes(
            session,
            outcomes=[
                PageOutcome(id=pages[0].id, http_status=503, error="HTTP 503 Service Unavailable"),
                PageOutcome(id=pages[1].id, count=3, http_status=200),
            ],
        )
    at = AppTest.from_file(WEBPAGES, default_timeout=30).run()
    assert not at.exception and at.selectbox[0].value == created.id

    recount_buttons(at)[0].click().run()

    assert not at.exception and recount_buttons(at) == []  # nothing failed is left to re-count
    (said,) = at.info
    assert said.value.startswith(f"1 failed page of request {created.id} queued to be counted again.")
    assert "Not re-counted: 1 URL refused when the request was stored" in said.value
    assert f"Request {created.id} is stored; no Prefect server is configured" in said.value  # run asked for
    shown = shown_pages(at)
    assert shown["https://a.example/"]["status"] == "not_started"
    assert "HTTP 503" in shown["https://a.example/"]["error"]  # the last result, until counted again
    assert (shown["https://b.example/"]["status"], shown["ftp://x"]["status"]) == ("finished", "failed")


def test_no_recount_button_when_only_refused_urls_failed(sessions: Sessions) -> None:
    with sessions.begin() as session:
        create_request(session, urls=["ftp://x", "http://10.0.0.1/"], word="python")

    at = AppTest.from_file(WEBPAGES, default_timeout=30).run()

    assert not at.exception and recount_buttons(at) == []


def test_overview_shows_the_last_daily_reports(sessions: Sessions) -> None:
    from datetime import date

    from commands.reports import build_daily_report
    from db.reports import record_email

    for day in range(1, 10):
        build_daily_report(date(2026, 11, day), sessions=sessions)
    with sessions.begin() as session:
        record_email(session, day=date(2026, 11, 9), error=None)
        record_email(session, day=date(2026, 11, 8), error="could not reach SMTP server 127.0.0.1:9")
    at = AppTest.from_file(APP, default_timeout=30).run()

    assert not at.exception
    shown = at.dataframe[0].value
    assert list(shown["day"]) == [f"2026-11-0{day}" for day in range(9, 2, -1)]
    assert list(shown["e-mailed"])[:3] == ["yes", "failed", "no"]
    labels = [expander.label for expander in at.expander]
    assert labels[0] == "Report of 2026-11-09 (UTC), e-mailed"
    assert labels[1] == "Report of 2026-11-08 (UTC), not e-mailed: could not reach SMTP server 127.0.0.1:9"
    assert any(m.value.startswith("# Switchyard daily report: 2026-11-09") for m in at.expander[0].markdown)
