"""Prefect tasks for briefs, and the collection work they run.

Collection is one task run per platform: the brief's keywords are searched side by side through one
client of that platform, pages fetched concurrently under the platform's concurrency limit, each
page retried with backoff on transient errors, articles upserted in batches as they arrive.
Analysis is one task run that reads the brief's articles and writes its files (tasks/brief_analysis.py).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
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
from connectors.platforms import PlatformError, SearchPage, platform_client, search
from core.fonts import cjk_font
from core.settings import BriefSettings, get_settings
from db.briefs import (
    BriefStatus,
    ClaimedBrief,
    SearchOutcome,
    SearchToRun,
    claim_brief,
    fail_abandoned,
    fail_brief,
    finish_brief,
    finish_collection,
    get_brief,
    list_articles,
    list_searches,
    record_search,
    short_searches,
    start_searches,
    store_articles,
    waiting_briefs,
)
from db.engine import session_factory
from rules.brief_analysis import BriefAnalysis, analyse_brief_articles, prepare_jieba, publish_files
from rules.briefs import Article, Stage
from tasks.artifacts import report

Sink = Callable[[list[Article]], Awaitable[None]]
COLLECTION_POLL = 0.2  # seconds between looks at a brief's status while its analysis waits
IN_PROGRESS = [
    StateType.SCHEDULED,
    StateType.PENDING,
    StateType.RUNNING,
    StateType.PAUSED,
    StateType.CANCELLING,
]


@dataclass(frozen=True)
class PageResult:
    """One search page after its tries: the page, or why it could not be had."""

    number: int
    page: SearchPage | None
    attempts: int
    error: str | None = None


async def fetch_search_page(
    client: httpx.AsyncClient,
    limit: asyncio.Semaphore,
    platform: str,
    keyword: str,
    number: int,
    *,
    brief: ClaimedBrief,
    settings: BriefSettings,
) -> PageResult:
    """One page of a search, tried again after transient errors with doubling backoff."""
    for attempt in range(1, settings.retries + 2):
        try:
            async with limit:
                page = await search(
                    client,
                    platform,
                    keyword,
                    number,
                    page_size=settings.page_size,
                    since=brief.since,
                    until=brief.until,
                )
            return PageResult(number, page, attempt)
        except PlatformError as error:
            if not error.transient or attempt > settings.retries:
                return PageResult(number, None, attempt, f"page {number}: {error}")
            await asyncio.sleep(error.retry_after or settings.backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def run_search(
    client: httpx.AsyncClient,
    limit: asyncio.Semaphore,
    search_to_run: SearchToRun,
    *,
    brief: ClaimedBrief,
    settings: BriefSettings,
    concurrency: int,
    sink: Sink,
) -> SearchOutcome:
    """Every page of one keyword on one platform, up to ``max_articles``; articles go to ``sink``.

    The first page says how many there are when the platform tells; the rest are fetched at once.
    Without a total, pages are fetched in windows as wide as the concurrency limit until one is empty.
    """
    platform, keyword = search_to_run.platform, search_to_run.keyword
    max_pages = math.ceil(settings.max_articles / settings.page_size)
    results: list[PageResult] = []

    async def fetch(numbers: range) -> list[PageResult]:
        fetched = await asyncio.gather(
            *(
                fetch_search_page(client, limit, platform, keyword, n, brief=brief, settings=settings)
                for n in numbers
            )
        )
        results.extend(fetched)
        return list(fetched)

    (first,) = await fetch(range(1, 2))
    if first.page is not None and first.page.has_more:
        if first.page.total_pages is not None:
            await fetch(range(2, min(first.page.total_pages, max_pages) + 1))
        else:
            window, start = concurrency, 2
            while start <= max_pages:
                pages = await fetch(range(start, min(start + window, max_pages + 1)))
                if any(r.page is not None and _last(r.page) for r in pages):
                    break
                start += window
    return await _outcome(search_to_run, _until_the_end(results), settings.max_articles, sink)


def _until_the_end(results: list[PageResult]) -> list[PageResult]:
    """The pages up to the first that ends the search: those fetched past it (a window fetched at once)
    hold nothing, so their errors do not make the search partial."""
    end = min((r.number for r in results if r.page is not None and _last(r.page)), default=None)
    return [r for r in results if end is None or r.number <= end]


def _last(page: SearchPage) -> bool:
    """Whether a page ends its search: it says so, or holds no item at all (not even a broken one)."""
    return not page.has_more or not (page.articles or page.malformed)


async def _outcome(
    search_to_run: SearchToRun, results: list[PageResult], max_articles: int, sink: Sink
) -> SearchOutcome:
    """Hand the pages' articles (with the brief keyword, at most ``max_articles``) to ``sink``; sum up."""
    results.sort(key=lambda r: r.number)
    found: dict[str, Article] = {}
    for result in results:
        for article in result.page.articles if result.page else ():
            found.setdefault(article.external_id, replace(article, keyword=search_to_run.keyword))
    articles = list(found.values())[:max_articles]
    await sink(articles)
    errors = [r.error for r in results if r.error]
    return SearchOutcome(
        id=search_to_run.id,
        pages=sum(1 for r in results if r.page is not None),
        articles=len(articles),
        malformed=sum(len(r.page.malformed) for r in results if r.page),
        attempts=sum(r.attempts for r in results),
        error=_joined(errors),
    )


def _joined(errors: list[str], shown: int = 5) -> str | None:
    """The first few errors in one line, and how many more there were."""
    if not errors:
        return None
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return "; ".join(errors[:shown]) + more


@task(task_run_name="store brief for {keywords}")
def store_brief(
    keywords: list[str], platforms: list[str] | None, since: datetime | None, until: datetime | None
) -> int:
    """Validate and store a brief with its searches (`order_brief`); ValueError says what is wrong."""
    return order_brief(keywords, platforms, since, until).id


@task(task_run_name="claim brief {brief_id} to {stage}")
def claim_for_stage(brief_id: int, stage: Stage) -> ClaimedBrief | None:
    """Claim the brief for a stage; None if it is not waiting for that."""
    with session_factory().begin() as session:
        return claim_brief(
            session, brief_id=brief_id, stage=stage, lease_seconds=get_settings().briefs.lease_seconds
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


@task(task_run_name="collect {platform} for brief {brief.id}")
async def collect_platform(brief: ClaimedBrief, platform: str) -> list[SearchOutcome]:
    """Search every keyword of the brief on ``platform``; store articles and each search's outcome."""
    settings = get_settings()
    sessions = session_factory()
    searches = [s for s in brief.searches if s.platform == platform]
    buffer: list[Article] = []

    def write(articles: list[Article]) -> None:
        with sessions.begin() as session:
            store_articles(session, brief_id=brief.id, articles=articles)

    async def flush() -> None:
        batch = buffer[:]
        buffer.clear()
        await asyncio.to_thread(write, batch)

    async def sink(articles: list[Article]) -> None:
        buffer.extend(articles)
        if len(buffer) >= settings.briefs.store_every:
            await flush()

    def started() -> None:
        with sessions.begin() as session:
            start_searches(session, search_ids=[s.id for s in searches])

    def recorded(outcome: SearchOutcome) -> None:
        with sessions.begin() as session:
            record_search(session, outcome=outcome)

    await asyncio.to_thread(started)
    platform_settings = settings.platforms.of(platform)
    limit = asyncio.Semaphore(platform_settings.concurrency)
    async with platform_client(platform, platform_settings, settings.briefs) as client:

        async def one(search_to_run: SearchToRun) -> SearchOutcome:
            outcome = await run_search(
                client,
                limit,
                search_to_run,
                brief=brief,
                settings=settings.briefs,
                concurrency=platform_settings.concurrency,
                sink=sink,
            )
            if buffer:
                await flush()
            await asyncio.to_thread(recorded, outcome)
            return outcome

        outcomes = await asyncio.gather(*(one(s) for s in searches))
    logger = get_run_logger()
    for search_to_run, outcome in zip(searches, outcomes, strict=True):
        if outcome.error:
            logger.warning("brief=%s %s/%s: %s", brief.id, platform, search_to_run.keyword, outcome.error)
    return list(outcomes)


@task(task_run_name="mark brief {brief.id} collected")
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


@task(task_run_name="load jieba and the font")
def prepare_analysis() -> None:
    """What every analysis needs, loaded before the brief is ready: jieba's dictionary and the CJK font."""
    prepare_jieba(jieba_dir())
    analysis_font()


@task(task_run_name="wait for brief {brief_id} to be collected")
async def wait_for_collection(brief_id: int) -> BriefStatus | None:
    """Wait until the brief's collection has ended (or a lease's time has passed); its status then."""
    deadline = time.monotonic() + get_settings().briefs.lease_seconds

    def status() -> BriefStatus | None:
        with session_factory().begin() as session:
            brief = get_brief(session, brief_id=brief_id)
        return brief.status if brief else None

    while True:
        current = await asyncio.to_thread(status)
        if current not in (BriefStatus.SUBMITTED, BriefStatus.COLLECTING) or time.monotonic() > deadline:
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
