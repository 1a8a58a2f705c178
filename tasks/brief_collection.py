"""Collecting a brief: one task run per platform, the brief's keywords searched side by side through
one client of that platform, pages fetched concurrently under the platform's concurrency limit, each
page retried with backoff on transient errors, articles upserted in batches as they arrive."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import httpx
from prefect import get_run_logger, task

from connectors.platforms import PlatformError, SearchPage, platform_client, search
from core.settings import BriefSettings, get_settings
from db.briefs import (
    ClaimedBrief,
    SearchOutcome,
    SearchToRun,
    record_search,
    start_searches,
    store_articles,
)
from db.engine import session_factory
from rules.briefs import Article

Sink = Callable[[list[Article]], Awaitable[None]]


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
    page_size: int,
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
                    page_size=page_size,
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
    A platform that serves fewer items a page than asked counts its pages (and offsets) in its own
    size: when the first page is such, the search starts again in that size, so no item is skipped.
    """
    platform, keyword = search_to_run.platform, search_to_run.keyword
    page_size = settings.page_size
    results: list[PageResult] = []

    async def fetch(numbers: range) -> list[PageResult]:
        fetched = await asyncio.gather(
            *(
                fetch_search_page(
                    client, limit, platform, keyword, n, brief=brief, settings=settings, page_size=page_size
                )
                for n in numbers
            )
        )
        results.extend(fetched)
        return list(fetched)

    (first,) = await fetch(range(1, 2))
    if first.page is not None and first.page.has_more and 0 < first.page.served < page_size:
        page_size = first.page.served
        results.clear()
        (first,) = await fetch(range(1, 2))
    max_pages = math.ceil(settings.max_articles / page_size)
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
            results = _until_the_end(results)
    return await _outcome(search_to_run, results, settings.max_articles, sink)


def _until_the_end(results: list[PageResult]) -> list[PageResult]:
    """The pages of a cursor-paged search up to the first that ends it: those fetched past it (in the
    same window) hold nothing, so their errors do not make the search partial."""
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
