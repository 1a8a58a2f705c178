"""Real brief flow runs (Prefect test harness) against the sandbox platforms and a real database."""

from __future__ import annotations

import asyncio
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import flows.briefs
from core.settings import get_settings
from db.base import utcnow
from db.briefs import (
    BriefArticle,
    BriefStatus,
    SearchStatus,
    claim_brief,
    create_brief,
    finish_collection,
    get_brief,
    list_searches,
    store_articles,
    transition,
)
from flows.briefs import analyse_brief, collect_brief, process_briefs, submit_brief
from rules.briefs import Article, validate_brief
from sandbox.platforms import expected_counts
from tests.conftest import ConfigureSandbox, set_env

pytestmark = pytest.mark.usefixtures("prefect_harness", "platforms_on_the_sandbox")
Sessions = sessionmaker[Session]
KEYWORDS = ["新能源", "咖啡"]
COFFEE_ARTICLE = Article(
    platform="weibo",
    external_id="1",
    url="https://weibo.example/1",
    title="",
    content="今天的咖啡很香 #咖啡#",
    post_time=datetime(2026, 11, 20, tzinfo=UTC),
    keyword="咖啡",
)
FILES = {"keyword.xlsx", "keyword_analysis.xlsx", "content_wc.png", "topic_wc.png"}


def expected_good(config: object, platforms: list[str], keywords: list[str]) -> int:
    return sum(expected_counts(config, p, k)[0] for p in platforms for k in keywords)  # type: ignore[arg-type]


def article_count(sessions: Sessions, brief_id: int) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).where(BriefArticle.brief_id == brief_id)) or 0


def test_a_submitted_brief_is_collected_and_analysed_into_its_files(
    sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    config = configure_sandbox(platform_articles=45, platform_malformed_rate=0.1)
    result = asyncio.run(submit_brief(KEYWORDS, ["weibo", "douyin", "bilibili"]))

    brief_id = result["brief_id"]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        searches = list_searches(session, brief_id=brief_id)
    good = expected_good(config, ["weibo", "douyin", "bilibili"], KEYWORDS)
    assert brief is not None and brief.status == BriefStatus.FINISHED
    assert brief.articles == good == article_count(sessions, brief_id)
    assert brief.submitted_at <= brief.started_at <= brief.collected_at <= brief.finished_at  # type: ignore[operator]
    assert {s["status"] for s in searches} == {SearchStatus.DONE}
    malformed = sum(expected_counts(config, s["platform"], s["keyword"])[1] for s in searches)
    assert sum(s["malformed"] for s in searches) == malformed > 0

    archive = Path(brief.zip_path or "")
    assert archive == get_settings().data_dir / "briefs" / f"{brief_id}.zip"
    with zipfile.ZipFile(archive) as opened:
        assert set(opened.namelist()) == {f"{brief_id}/{name}" for name in FILES}
    assert {path.name for path in (archive.parent / str(brief_id)).iterdir()} >= FILES
    articles_sheet = load_workbook(archive.parent / str(brief_id) / "keyword.xlsx", read_only=True)[
        "articles"
    ]
    assert len(list(articles_sheet.values)) == good + 1  # the header row, then one row per article


def test_collection_survives_faults_and_a_rerun_adds_no_duplicates(
    sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    config = configure_sandbox(
        platform_articles=60, platform_error_rate=0.15, platform_throttle_rate=0.1, platform_timeout_rate=0.05
    )
    set_env({"SWITCHYARD_BRIEFS__RETRIES": "12", "SWITCHYARD_BRIEFS__READ_TIMEOUT": "0.3"})
    brief_id = asyncio.run(submit_brief(["咖啡"], ["weixin", "xiaohongshu"]))["brief_id"]
    first = article_count(sessions, brief_id)
    with sessions.begin() as session:  # as if the brief had to be collected again
        assert transition(session, brief_id=brief_id, to=BriefStatus.SUBMITTED, from_=[BriefStatus.FINISHED])
    asyncio.run(collect_brief(brief_id))
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    # every article arrived although about a third of the requests were faulted, and once only
    assert first == expected_good(config, ["weixin", "xiaohongshu"], ["咖啡"])
    assert article_count(sessions, brief_id) == first
    assert brief is not None and brief.status == BriefStatus.FINISHED
    assert brief.attempts == 4  # claims: collected twice, analysed twice


def test_a_platform_that_fails_leaves_the_rest_of_the_brief_finished(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, sandbox_url: str
) -> None:
    config = configure_sandbox(platform_articles=30)
    set_env({"SWITCHYARD_PLATFORMS__WEIBO__BASE_URL": f"{sandbox_url}/platforms/nowhere"})
    brief_id = asyncio.run(submit_brief(["咖啡"], ["weibo", "bilibili"]))["brief_id"]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        searches = {s["platform"]: s for s in list_searches(session, brief_id=brief_id)}
    assert brief is not None and brief.status == BriefStatus.FINISHED
    assert brief.articles == expected_counts(config, "bilibili", "咖啡")[0]
    assert searches["weibo"]["status"] == SearchStatus.FAILED and "404" in searches["weibo"]["error"]
    assert "weibo/咖啡" in (brief.last_error or "")


def test_bad_parameters_fail_the_run_with_a_clear_reason_and_store_nothing(sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="unknown platform 'twitter'"):
        asyncio.run(submit_brief(["咖啡"], ["twitter"]))
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(BriefArticle)) == 0


def test_the_schedule_picks_up_a_job_a_lost_run_held(
    sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    config = configure_sandbox(platform_articles=20)
    spec = validate_brief(["咖啡"], ["douyin"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)
        past = utcnow() - timedelta(hours=1)
        assert claim_brief(
            session, brief_id=brief_id, stage="collect", lease_seconds=60, now=past
        )  # then died
    asyncio.run(process_briefs())
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED
    assert brief.articles == expected_counts(config, "douyin", "咖啡")[0]


def test_an_analysis_started_early_waits_for_the_collection_then_analyses(sessions: Sessions) -> None:
    spec = validate_brief(["咖啡"], ["weibo"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)
        assert claim_brief(
            session, brief_id=brief_id, stage="collect", lease_seconds=60
        )  # a collector at work
    results: list[dict[str, object]] = []
    analysis = threading.Thread(target=lambda: results.append(asyncio.run(analyse_brief(brief_id))))
    analysis.start()
    time.sleep(3)  # the analysis run has loaded jieba and the font by now, and waits
    with sessions.begin() as session:
        assert get_brief(session, brief_id=brief_id).status == BriefStatus.COLLECTING  # type: ignore[union-attr]
        store_articles(session, brief_id=brief_id, articles=[COFFEE_ARTICLE])
        assert finish_collection(session, brief_id=brief_id)
    analysis.join(timeout=60)
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert results == [{"analysed": True, "articles": 1, "zip": brief.zip_path}]  # type: ignore[union-attr]
    assert brief is not None and brief.status == BriefStatus.FINISHED and Path(brief.zip_path or "").is_file()


def test_a_failed_hand_off_to_analysis_does_not_fail_the_brief(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_sandbox(platform_articles=10)

    async def refused(**_: object) -> None:  # the server refusing to create the analysis run
        raise RuntimeError("HTTP 503 from the Prefect server")

    monkeypatch.setattr(flows.briefs, "run_deployment", refused)
    brief_id = asyncio.run(submit_brief(["咖啡"], ["weibo"]))["brief_id"]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.articles == 10
