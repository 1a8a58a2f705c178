"""Prefect tasks for briefs: storing, claiming, handing off (which runs are in progress), the
analysis (reads the brief's articles, writes its files with rules/brief_analysis.py, puts them in
place while its claim holds). Collection is in tasks/brief_collection.py."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_client, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from commands.briefs import order_brief
from core.fonts import cjk_font
from core.settings import get_settings
from db.briefs import (
    BriefStatus,
    ClaimedBrief,
    claim_brief,
    fail_abandoned,
    fail_brief,
    finish_brief,
    finish_collection,
    get_brief,
    list_articles,
    list_searches,
    short_searches,
    waiting_briefs,
)
from db.engine import session_factory
from rules.brief_analysis import BriefAnalysis, analyse_brief_articles, brief_keywords, publish_files
from rules.brief_segmenter import build_fast_ahead, dictionary_total
from rules.brief_words import pool_ahead, prepare_jieba
from rules.briefs import Article, Stage
from tasks.artifacts import report
from tasks.claims import run_lease

UNCLAIMED_WAIT = 60.0  # seconds an analysis waits for a brief that no collect run has claimed yet
COLLECTION_POLL = 0.05  # seconds between looks at a brief's status while its analysis waits


IN_PROGRESS = [
    StateType.SCHEDULED,
    StateType.PENDING,
    StateType.RUNNING,
    StateType.PAUSED,
    StateType.CANCELLING,
]


@task(task_run_name="store brief for {keywords}")
def store_brief(
    keywords: list[str], platforms: list[str] | None, since: datetime | None, until: datetime | None
) -> int:
    """Validate and store a brief with its searches (`order_brief`); ValueError says what is wrong."""
    return order_brief(keywords, platforms, since, until).id


def claim_for_stage(brief_id: int, stage: Stage) -> ClaimedBrief | None:
    """Claim the brief for a stage; None if it is not waiting for that.

    A plain call, not a task run (nor is `mark_collected`): one short write of the app's database
    whose outcome the run's log and the brief's row say; a task run would add its state writes to
    the Prefect server on the brief's critical path (the server, on SQLite, refuses writes when busy).
    """
    lease = run_lease(get_settings().briefs.lease_seconds)
    with session_factory().begin() as session:
        return claim_brief(
            session, brief_id=brief_id, stage=stage, lease_seconds=int(lease.seconds), owner=lease.owner
        )


@task(task_run_name="fail abandoned briefs")
def fail_abandoned_briefs() -> int:
    """Fail the briefs lost runs held too often; returns how many."""
    with session_factory().begin() as session:
        return fail_abandoned(session, max_attempts=get_settings().briefs.max_attempts)


@task(task_run_name="find briefs waiting to {stage} after {after}")
def find_waiting(stage: Stage, after: int) -> list[int]:
    """Up to 50 briefs (ids above ``after``) waiting for a stage, including those a lost run left behind."""
    with session_factory().begin() as session:
        return waiting_briefs(session, stage=stage, after=after)


async def runs_in_progress(names: Sequence[str]) -> set[str]:
    """Which of these flow-run names a run queued or running now has, created within a lease's time.

    An older run lost its claim by now in any case (and a killed run can show "Running" for ever).
    Raises what the Prefect client raises when the API cannot answer.
    """
    since = datetime.now(UTC) - timedelta(seconds=get_settings().briefs.lease_seconds)
    in_progress = FlowRunFilterState(type=FlowRunFilterStateType(any_=IN_PROGRESS))
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=list(names)), state=in_progress)
        )
    return {run.name for run in runs if run.created is None or run.created >= since}


def mark_collected(brief: ClaimedBrief) -> bool:
    """Sum up the accounts and mark the brief collected; False if this run's claim was taken over."""
    with session_factory().begin() as session:
        return finish_collection(session, brief_id=brief.id, claim=brief.claim)


@task(task_run_name="fail brief {brief.id}")
def mark_failed(brief: ClaimedBrief, error: str) -> None:
    """Record why the brief failed, and its finish time (unless another run's claim holds it now)."""
    with session_factory().begin() as session:
        fail_brief(session, brief_id=brief.id, error=error, claim=brief.claim)


def collection_progress(brief_id: int) -> tuple[int, int, str]:
    """The brief's searches finished, its searches in all, and a line saying how far collection got."""
    with session_factory().begin() as session:
        searches = list_searches(session, brief_id=brief_id)
    done = [s for s in searches if s["status"] not in ("pending", "running")]
    articles = sum(s["articles"] for s in done)
    return len(done), len(searches), f"{len(done)} of {len(searches)} searches finished, {articles} articles"


@task(task_run_name="prepare the analysis (jieba: {load_jieba})")
def prepare_analysis(load_jieba: bool = True, build_segmenter: bool = True) -> None:
    """What every analysis needs, loaded before the brief is ready: jieba's dictionary (for the texts
    rjieba cuts otherwise; forked workers inherit it) unless ``load_jieba`` is False, its total for
    rjieba, rjieba itself with its dictionary built (`build_fast_ahead`) unless ``build_segmenter``
    is False, and the CJK font. Without jieba here, the analysis loads it before its pool forks, and
    only when a text needs it. Beside the searches of the same process, building rjieba's dictionary
    holds the GIL they need (in-process collection 1.5 → 2.0–2.5 s, bench/RESULTS.md, fifth session)."""
    if load_jieba:
        prepare_jieba(jieba_dir())
    dictionary_total(jieba_dir())
    if build_segmenter:
        build_fast_ahead()
    analysis_font()


def analysis_pool_ahead(brief: ClaimedBrief) -> AbstractContextManager[None]:
    """The pool this process's analysis of the brief segments with, forked now (its workers build
    their segmenters meanwhile, in processes of their own: rules/brief_words.pool_ahead); ended on
    exit if the analysis did not take it."""
    processes = get_settings().briefs.analysis_processes
    return pool_ahead(brief_keywords(brief.keywords), processes=processes, jieba_dir=jieba_dir())


@task(task_run_name="wait for brief {brief_id} to be collected")
async def wait_for_collection(brief_id: int) -> BriefStatus | None:
    """Wait until the brief's collection has ended (or a lease's time has passed); its status then.

    A brief still waiting to be collected after `UNCLAIMED_WAIT` s is left (its status returned):
    no collect run came for it (none serves the collect pool?); the collect run that comes later
    starts an analysis run of its own.
    """
    started = time.monotonic()
    deadline = started + get_settings().briefs.lease_seconds

    def status() -> BriefStatus | None:
        with session_factory().begin() as session:
            brief = get_brief(session, brief_id=brief_id)
        return brief.status if brief else None

    while True:
        current = await asyncio.to_thread(status)
        now = time.monotonic()
        if current not in (BriefStatus.SUBMITTED, BriefStatus.COLLECTING) or now > deadline:
            return current
        if current == BriefStatus.SUBMITTED and now - started > UNCLAIMED_WAIT:
            return current
        await asyncio.sleep(COLLECTION_POLL)


def export_dir() -> Path:
    """Where the brief files go: ``<data_dir>/briefs``."""
    return get_settings().data_dir / "briefs"


def jieba_dir() -> Path:
    """Where jieba keeps its dictionary cache: ``<data_dir>/cache/jieba``."""
    return get_settings().data_dir / "cache" / "jieba"


def analysis_font() -> Path:
    """The word clouds' CJK font (a packaged face is extracted once into ``<data_dir>/cache/fonts``)."""
    settings = get_settings()
    return cjk_font(settings.briefs.font_path, settings.data_dir / "cache" / "fonts")


def staging_dir(brief: ClaimedBrief) -> Path:
    """Where one claim's analysis writes the brief's files before they are put in place."""
    return export_dir() / ".staging" / f"{brief.id}-{brief.claim}"


@task(task_run_name="analyse brief {brief.id}")
def analyse_claimed(brief: ClaimedBrief) -> BriefAnalysis:
    """Read the brief's articles and write its workbooks, word clouds and zip into its staging folder."""
    settings = get_settings()
    with session_factory().begin() as session:
        articles = list_articles(session, brief_id=brief.id, order_by="id")
        short = short_searches(session, brief_id=brief.id)
    order = {keyword: index for index, keyword in enumerate(brief.keywords)}
    articles.sort(key=lambda a: (order.get(a.keyword, len(order)), a.platform, -_posted(a)))
    return analyse_brief_articles(
        articles,
        brief.keywords,
        out_dir=staging_dir(brief),
        brief_name=str(brief.id),
        font=analysis_font(),
        processes=settings.briefs.analysis_processes,
        top_words=settings.briefs.top_words,
        jieba_dir=jieba_dir(),
        short=short,
    )


def _posted(article: Article) -> float:
    return article.post_time.timestamp() if article.post_time else 0.0


def brief_summary(analysis: BriefAnalysis, brief_dir: Path) -> dict[str, Any]:
    """What the brief row keeps of an analysis: counts per platform, top words and topics, the files."""
    per_platform: dict[str, int] = {}
    for row in analysis.summary:
        per_platform[row.platform] = per_platform.get(row.platform, 0) + row.articles
    return {
        "articles": analysis.articles,
        "per_platform": per_platform,
        "top_words": [[w.word, w.count] for w in analysis.words[:30]],
        "top_topics": [[t.topic, t.count] for t in analysis.topics[:30]],
        "files": {name: str(brief_dir / name) for name in analysis.files},
        "seconds": round(analysis.seconds, 2),
    }


def finish_analysis(brief: ClaimedBrief, analysis: BriefAnalysis) -> tuple[bool, dict[str, Any], str | None]:
    """Mark the brief finished and put its staged files in place, if this claim still holds it.

    Returns whether it did, the summary stored, and what could not be collected. The staged files are
    dropped either way: a brief's files are only ever written by the run holding it.
    """
    name, staged = str(brief.id), staging_dir(brief)
    summary = brief_summary(analysis, export_dir() / name)
    try:
        with session_factory().begin() as session:
            zip_path = str(export_dir() / f"{name}.zip")
            if not finish_brief(
                session, brief_id=brief.id, claim=brief.claim, zip_path=zip_path, summary=summary
            ):
                return False, summary, None
            publish_files(staged, export_dir(), name)  # while the brief's row is still locked
            held = get_brief(session, brief_id=brief.id)
            return True, summary, held.last_error if held else None
    finally:
        shutil.rmtree(staged, ignore_errors=True)


@task(task_run_name="finish brief {brief.id}")
async def record_analysis(brief: ClaimedBrief, analysis: BriefAnalysis) -> str | None:
    """`finish_analysis`, then a markdown summary for the Prefect UI; the zip's path, or None if a later
    run holds the brief now."""
    finished, summary, problems = await asyncio.to_thread(finish_analysis, brief, analysis)
    if not finished:
        get_run_logger().warning("brief %s was taken over by a later run: its files are left to it", brief.id)
        return None
    markdown = acreate_markdown_artifact(
        markdown=summary_markdown(brief.id, summary, problems),
        key=f"brief-{brief.id}",
        description="Brief summary",
    )
    await report(markdown, "brief summary artifact")
    return str(export_dir() / f"{brief.id}.zip")


def summary_markdown(brief_id: int, summary: dict[str, Any], problems: str | None) -> str:
    """The brief's summary for the Prefect UI: articles per platform, top keywords, the files."""
    lines = [f"# Brief {brief_id}", "", f"**{summary['articles']} articles**", ""]
    lines += ["| platform | articles |", "|---|---|"]
    lines += [f"| {platform} | {n} |" for platform, n in summary["per_platform"].items()]
    lines += ["", "## Top keywords", "", "| word | count |", "|---|---|"]
    lines += [f"| {word} | {count} |" for word, count in summary["top_words"][:20]]
    lines += ["", "## Files", ""] + [f"- `{path}`" for path in summary["files"].values()]
    if problems:
        lines += ["", "## Not collected", "", problems]
    return "\n".join(lines)
