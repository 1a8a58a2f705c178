"""``python -m cli briefs …`` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from cli.app import app
from db.briefs import (
    BriefStatus,
    create_brief,
    fail_brief,
    list_briefs,
    list_searches,
    refresh_accounts,
    store_articles,
    transition,
)
from rules.briefs import Article, validate_brief

Sessions = sessionmaker[Session]
Run = Callable[..., Result]


@pytest.fixture
def run(sessions: Sessions) -> Run:
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_submit_stores_the_brief_and_leaves_collection_to_the_schedule(run: Run, sessions: Sessions) -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = run(
            "briefs", "submit", "奶茶", "咖啡", "--platform", "Weibo", "--since", "2026-11-01T00:00:00+08:00"
        )
    assert result.exit_code == 0, result.output
    with sessions.begin() as session:
        (brief,) = list_briefs(session)
        searches = list_searches(session, brief_id=brief.id)
    assert brief.keywords == ["奶茶", "咖啡"] and brief.platforms == ["weibo"]
    assert brief.since == datetime(2026, 10, 31, 16, tzinfo=UTC) and len(searches) == 2
    assert f"brief {brief.id}: 奶茶, 咖啡 on weibo" in result.output and "process-briefs" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--platform", "twitter"], "unknown platform 'twitter'"),
        (["x", "--since", "yesterday"], "not a time"),
        (["x", "--since", "+1d", "--until", "now"], "ends before it starts"),
    ],
)
def test_submit_refuses_bad_input_and_stores_nothing(
    run: Run, sessions: Sessions, args: list[str], message: str
) -> None:
    result = run("briefs", "submit", *args)
    assert result.exit_code == 2 and message in result.output
    with sessions.begin() as session:
        assert list_briefs(session) == []


def test_list_show_articles_and_accounts(run: Run, sessions: Sessions) -> None:
    with sessions.begin() as session:
        first = create_brief(session, spec=validate_brief(["奶茶"], ["douyin"], max_keywords=5))
        second = create_brief(session, spec=validate_brief(["咖啡"], None, max_keywords=5))
        article = Article(
            "douyin",
            "7",
            "https://d.example/7",
            "",
            "奶茶真好喝",
            None,
            like=5,
            interaction=9,
            user_name="小王",
        )
        store_articles(session, brief_id=first, articles=[article])
        refresh_accounts(session, brief_id=first)
        fail_brief(session, brief_id=second, error="every platform refused the key")

    listed = run("briefs", "list", "--status", BriefStatus.FAILED.value)
    assert listed.exit_code == 0 and [line.split()[0] for line in listed.output.splitlines()[1:]] == [
        str(second)
    ]
    shown = run("briefs", "show", str(second))
    assert (
        shown.exit_code == 0 and "failed" in shown.output and "every platform refused the key" in shown.output
    )
    assert len([line for line in shown.output.splitlines() if line.startswith(("weibo", "bilibili"))]) == 2
    articles = run("briefs", "articles", str(first))
    assert "https://d.example/7" in articles.output and "小王" in articles.output
    accounts = run("briefs", "accounts", str(first)).output.splitlines()
    assert accounts[1].split() == ["douyin", "小王", "0", "1", "9"]  # fans 0, no level, 1 article
    assert run("briefs", "show", "999").exit_code == 2


def test_recollect_reopens_the_short_searches_and_wait_says_how_a_brief_ended(
    run: Run, sessions: Sessions
) -> None:
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=validate_brief(["咖啡"], ["weibo"], max_keywords=5))
        fail_brief(session, brief_id=brief_id, error="every platform refused the key")
        working = create_brief(session, spec=validate_brief(["奶茶"], ["weibo"], max_keywords=5))

    waited = run("briefs", "wait", str(brief_id))
    assert waited.exit_code == 1 and f"brief {brief_id} failed at 20" in waited.output
    assert "every platform refused the key" in waited.output
    with temporary_settings({PREFECT_API_URL: None}):
        again = run("briefs", "recollect", str(brief_id))
    assert again.exit_code == 0 and f"brief {brief_id}: 0 searches to collect again" in again.output
    with sessions.begin() as session:
        assert list_briefs(session, status=BriefStatus.SUBMITTED)[-1].id == brief_id
    refused = run("briefs", "recollect", str(working))
    assert refused.exit_code == 2 and "is submitted: let it end first" in refused.output


def test_a_brief_finished_with_short_searches_is_listed_as_partial(run: Run, sessions: Sessions) -> None:
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=validate_brief(["咖啡"], ["weibo"], max_keywords=5))
        assert transition(
            session,
            brief_id=brief_id,
            to=BriefStatus.FINISHED,
            from_=[BriefStatus.SUBMITTED],
            last_error="weibo/咖啡: page 3: weibo is unavailable (HTTP 500)",
        )
    listed = run("briefs", "list").output.splitlines()
    assert listed[1].split()[:3] == [str(brief_id), "finished", "(partial)"]
    shown = run("briefs", "show", str(brief_id)).output
    assert f"brief {brief_id}: finished (partial), 0 articles" in shown and "page 3" in shown
