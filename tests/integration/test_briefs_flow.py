"""Real brief flow runs (Prefect test harness) against the sandbox platforms and a real database."""

from __future__ import annotations

import asyncio
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from openpyxl import load_workbook
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterName,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Scheduled
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import flows.briefs
import tasks.artifacts
import tasks.briefs
from commands.briefs import recollect_brief
from core.settings import get_settings
from db.base import utcnow
from db.briefs import (
    BriefArticle,
    BriefStatus,
    SearchStatus,
    claim_brief,
    create_brief,
    fail_brief,
    finish_collection,
    get_brief,
    list_searches,
    store_articles,
    transition,
)
from flows.briefs import analyse_brief, collect_brief, process_briefs, submit_brief
from rules import brief_words
from rules.briefs import Article, Stage, validate_brief
from sandbox.platforms import expected_counts
from tasks.briefs import analyse_claimed, finish_analysis, staging_dir
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
    assert brief.created_at <= brief.started_at <= brief.collected_at <= brief.finished_at  # type: ignore[operator]
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
    missing = load_workbook(Path(brief.zip_path or "").with_suffix("") / "keyword_analysis.xlsx")["missing"]
    rows = list(missing.values)
    assert len(rows) == 2 and rows[1][:3] == ("weibo", "咖啡", "failed") and "404" in rows[1][5]


def test_errors_on_pages_past_the_end_do_not_make_a_search_partial(
    sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    configure_sandbox(platform_articles=30, platform_fail_past_end=True)
    set_env({"SWITCHYARD_BRIEFS__RETRIES": "1"})
    brief_id = asyncio.run(submit_brief(["咖啡"], ["xiaohongshu", "douyin"]))["brief_id"]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        searches = list_searches(session, brief_id=brief_id)
    assert [(s["status"], s["articles"], s["error"]) for s in searches] == [(SearchStatus.DONE, 30, None)] * 2
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.last_error is None


@pytest.mark.parametrize("platform", ["weibo", "douyin", "bilibili"])
def test_a_platform_serving_smaller_pages_than_asked_loses_no_article(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, platform: str
) -> None:
    # page numbers (weibo, bilibili) and offsets (douyin) count in the platform's own page size
    config = configure_sandbox(platform_articles=130, platform_max_page_size=20)
    set_env({"SWITCHYARD_BRIEFS__PAGE_SIZE": "50"})
    brief_id = asyncio.run(submit_brief(["咖啡"], [platform]))["brief_id"]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        searches = list_searches(session, brief_id=brief_id)
    expected = expected_counts(config, platform, "咖啡")[0]
    assert expected == 130
    assert [(s["status"], s["articles"]) for s in searches] == [(SearchStatus.DONE, expected)]
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.articles == expected


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
            session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60, now=past
        )  # then died
    asyncio.run(process_briefs())
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED
    assert brief.articles == expected_counts(config, "douyin", "咖啡")[0]


async def task_run_is_running(name: str) -> bool:
    async with get_client() as client:
        runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(
                name=TaskRunFilterName(any_=[name]),
                state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.RUNNING])),
            )
        )
    return bool(runs)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds (the timeout only stops a broken test from hanging)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def test_an_analysis_started_early_waits_for_the_collection_then_analyses(sessions: Sessions) -> None:
    spec = validate_brief(["咖啡"], ["weibo"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)
        collecting = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert collecting  # a collector at work
    results: list[dict[str, object]] = []
    analysis = threading.Thread(target=lambda: results.append(asyncio.run(analyse_brief(brief_id))))
    analysis.start()
    waiting = f"wait for brief {brief_id} to be collected"
    wait_until(lambda: asyncio.run(task_run_is_running(waiting)), "the analysis waiting for the collection")
    with sessions.begin() as session:
        assert get_brief(session, brief_id=brief_id).status == BriefStatus.COLLECTING  # type: ignore[union-attr]
        store_articles(session, brief_id=brief_id, articles=[COFFEE_ARTICLE])
        assert finish_collection(session, brief_id=brief_id, claim=collecting.claim)
    analysis.join(timeout=60)
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED and Path(brief.zip_path or "").is_file()
    assert results == [{"brief_id": brief_id, "analysed": True, "articles": 1, "zip": brief.zip_path}]


def test_an_analysis_waiting_on_a_collection_that_failed_never_analyses(sessions: Sessions) -> None:
    spec = validate_brief(["咖啡"], ["weibo"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)
        collecting = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert collecting
    results: list[dict[str, object]] = []
    analysis = threading.Thread(target=lambda: results.append(asyncio.run(analyse_brief(brief_id))))
    analysis.start()
    waiting = f"wait for brief {brief_id} to be collected"
    wait_until(lambda: asyncio.run(task_run_is_running(waiting)), "the analysis waiting for the collection")
    with sessions.begin() as session:
        fail_brief(session, brief_id=brief_id, error="collection failed: boom", claim=collecting.claim)
    analysis.join(timeout=60)
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FAILED and brief.zip_path is None
    assert results == [{"brief_id": brief_id, "analysed": False}]


def test_a_brief_analysed_in_its_collecting_run_prepared_the_analysis_while_collecting(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_sandbox(platform_articles=10)
    forked: list[tuple[str, ...]] = []
    fork_pool = brief_words.fork_pool

    def record_fork(processes: int, keywords: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        forked.append(tuple(keywords))
        return fork_pool(processes, keywords, *args, **kwargs)

    monkeypatch.setattr(brief_words, "fork_pool", record_fork)
    state = asyncio.run(submit_brief(["咖啡"], ["weibo"], return_state=True))
    # the analysis's pool was forked once, as the collection began, and the analysis took it (ten
    # articles alone would have been segmented in this process, without a pool)
    assert forked == [("咖啡",)] and not brief_words._ahead
    brief_id = state.result()["brief_id"]  # type: ignore[index]

    async def task_runs() -> dict[str, Any]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
            )
        return {run.name: run for run in runs}

    runs = asyncio.run(task_runs())
    prepared = runs["prepare the analysis (jieba: False)"]  # jieba is loaded by the analysis if needed
    analysed = runs[f"analyse brief {brief_id}"]
    assert prepared.state.is_completed()  # type: ignore[union-attr]
    # loading had ended before the analysis began (it starts with the collection; whether it starts
    # before a collection of ten articles ends is the scheduler's to decide, so not asserted)
    assert prepared.end_time <= analysed.start_time  # type: ignore[operator]
    with sessions.begin() as session:
        assert get_brief(session, brief_id=brief_id).status == BriefStatus.FINISHED  # type: ignore[union-attr]


def collected_brief(sessions: Sessions) -> int:
    """A brief of one article, collected and waiting for its analysis."""
    spec = validate_brief(["咖啡"], ["weibo"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)
        collecting = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert collecting
        store_articles(session, brief_id=brief_id, articles=[COFFEE_ARTICLE])
        assert finish_collection(session, brief_id=brief_id, claim=collecting.claim)
    return brief_id


def test_an_analysis_whose_claim_was_taken_over_never_writes_the_files(sessions: Sessions) -> None:
    brief_id = collected_brief(sessions)
    later = utcnow() + timedelta(seconds=61)
    with sessions.begin() as session:
        slow = claim_brief(session, brief_id=brief_id, stage=Stage.ANALYSE, lease_seconds=60)
        taken_over = claim_brief(session, brief_id=brief_id, stage=Stage.ANALYSE, lease_seconds=60, now=later)
    assert slow and taken_over
    exports = get_settings().data_dir / "briefs"
    assert finish_analysis(taken_over, analyse_claimed.fn(taken_over))[0]
    files = {path: path.stat().st_mtime_ns for path in (exports / str(brief_id)).iterdir()}
    finished, _, _ = finish_analysis(slow, analyse_claimed.fn(slow))  # the slow run ends after all
    assert not finished
    assert {path: path.stat().st_mtime_ns for path in (exports / str(brief_id)).iterdir()} == files
    assert not staging_dir(slow).exists() and not staging_dir(taken_over).exists()


@pytest.fixture
def started_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Deployment runs started by the flows, created as queued flow runs (no worker runs them);
    deleted after the test so that later tests do not see them queued. Each is started as a run of
    its own, never as a subflow (whose parent task run is one more write a busy server refuses)."""
    created: list[UUID] = []
    names: list[str] = []

    async def queue(
        *, name: str, parameters: dict[str, object], flow_run_name: str, timeout: int, as_subflow: bool = True
    ) -> object:
        assert not as_subflow, f"{flow_run_name} started as a subflow"
        async with get_client() as client:
            run = await client.create_flow_run(
                collect_brief, name=flow_run_name, parameters=parameters, state=Scheduled()
            )
        created.append(run.id)
        names.append(flow_run_name)
        return run

    monkeypatch.setattr(flows.briefs, "run_deployment", queue)
    yield names

    async def delete() -> None:
        async with get_client() as client:
            for run_id in created:
                await client.delete_flow_run(run_id)

    asyncio.run(delete())


def test_a_sweep_starts_one_run_per_waiting_brief_and_none_while_one_is_queued(
    sessions: Sessions, started_runs: list[str]
) -> None:
    spec = validate_brief(["咖啡"], ["weibo"], max_keywords=5)
    with sessions.begin() as session:
        waiting = [create_brief(session, spec=spec) for _ in range(55)]  # more than one page of 50
    collected = collected_brief(sessions)
    first = asyncio.run(process_briefs())
    second = asyncio.run(process_briefs())  # a minute later: every brief has its run queued
    expected = [f"collect brief {brief_id}" for brief_id in waiting] + [f"analyse brief {collected}"]
    assert started_runs == expected
    assert first == {"released": 0, "abandoned": 0, "collect": 55, "analyse": 1, "left_to_their_runs": 0}
    assert second == {"released": 0, "abandoned": 0, "collect": 0, "analyse": 0, "left_to_their_runs": 56}
    with sessions.begin() as session:
        assert {get_brief(session, brief_id=i).status for i in waiting} == {BriefStatus.SUBMITTED}  # type: ignore[union-attr]


def test_a_brief_is_not_failed_by_a_progress_report_that_fails(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_sandbox(platform_articles=10)

    async def refused(**_: object) -> None:
        raise RuntimeError("HTTP 500 from the Prefect server")

    for name in ("acreate_progress_artifact", "aupdate_progress_artifact"):
        monkeypatch.setattr(tasks.artifacts, name, refused)
    monkeypatch.setattr(tasks.briefs, "acreate_markdown_artifact", refused)
    brief_id = asyncio.run(submit_brief(["咖啡"], ["weibo"]))["brief_id"]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.articles == 10


def test_a_failed_hand_off_to_analysis_does_not_fail_the_brief(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_sandbox(platform_articles=10)

    async def refused(**_: object) -> None:  # the server refusing to create the analysis run
        raise RuntimeError("HTTP 503 from the Prefect server")

    monkeypatch.setattr(flows.briefs, "run_deployment", refused)
    state = asyncio.run(submit_brief(["咖啡"], ["weibo"], return_state=True))
    brief_id = state.result()["brief_id"]  # type: ignore[index]
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.articles == 10
    assert state.is_completed() and state.message == f"brief {brief_id}: collected True, articles 10, " + (
        "malformed 0, searches_with_errors 0"
    )


def test_re_collecting_runs_only_the_short_searches_and_keeps_what_was_stored(
    sessions: Sessions, configure_sandbox: ConfigureSandbox, sandbox_url: str
) -> None:
    config = configure_sandbox(platform_articles=30)
    set_env({"SWITCHYARD_PLATFORMS__WEIBO__BASE_URL": f"{sandbox_url}/platforms/nowhere"})
    brief_id = asyncio.run(submit_brief(["咖啡"], ["weibo", "bilibili"]))["brief_id"]
    with sessions.begin() as session:
        before = {s["platform"]: s for s in list_searches(session, brief_id=brief_id)}
    set_env({"SWITCHYARD_PLATFORMS__WEIBO__BASE_URL": f"{sandbox_url}/platforms/weibo"})  # weibo is back

    assert recollect_brief(brief_id) == 1
    result = asyncio.run(collect_brief(brief_id))

    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        after = {s["platform"]: s for s in list_searches(session, brief_id=brief_id)}
    assert result["brief_id"] == brief_id and result["collected"]
    assert after["bilibili"] == before["bilibili"]  # not run again
    assert after["weibo"]["status"] == SearchStatus.DONE and after["weibo"]["error"] is None
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.last_error is None
    assert (
        brief.articles
        == expected_good(config, ["weibo", "bilibili"], ["咖啡"])
        == article_count(sessions, brief_id)
    )
    with pytest.raises(ValueError, match="nothing to re-collect"):
        recollect_brief(brief_id)


def test_an_analysis_started_for_a_brief_no_collection_claims_ends_without_it(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.briefs, "UNCLAIMED_WAIT", 0.3)
    spec = validate_brief(["咖啡"], ["weibo"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)  # no collect run comes for it
    started = time.monotonic()
    assert asyncio.run(analyse_brief(brief_id)) == {"brief_id": brief_id, "analysed": False}
    assert time.monotonic() - started < 30  # not the lease's 900 s
    with sessions.begin() as session:
        assert get_brief(session, brief_id=brief_id).status == BriefStatus.SUBMITTED  # type: ignore[union-attr]
