"""The per-page work of word counts, and one batch of it: Prefect-free, so a helper process can run it.

A batch claims up to ``batch_size`` pages, fetches them concurrently through one shared client,
counts, and writes the outcomes in a few round trips as they complete. The batches of one run (or of
one helper process) share one client (``shared_page_client``), so they reuse its open connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import aiohttp
import uvloop

from connectors.web import FetchError, fetch_page, page_client
from core.settings import FetchSettings, get_settings
from db.claims import Lease
from db.engine import session_factory
from db.webpages import PageOutcome, PageToFetch, claim_pages, record_outcomes, renew_pages
from rules.wordcount import UnsupportedContent, count_word, decode_page
from tasks.batch import Batch, run_batch

LARGE_BODY = 512 * 1024  # counted in a worker thread so the event loop keeps serving other fetches

_shared_client: ContextVar[aiohttp.ClientSession | None] = ContextVar("shared_page_client", default=None)


def share_size(pages: int, claimers: int, batch_size: int) -> int:
    """The batch size that gives each of ``claimers`` (lanes and helper processes) a first batch of a
    request of ``pages``: ``batch_size``, or less for a request too small to fill one batch each."""
    return max(1, min(batch_size, -(-pages // claimers)))


@dataclass(frozen=True)
class ClaimedPages:
    """Pages claimed already (with their request, as it was stored), and the lease holding them."""

    lease: Lease
    pages: list[PageToFetch]

    def share(self, batches: int) -> list[ClaimedPages]:
        """All the pages cut into ``batches`` batches in order, as even as can be (some may be empty)."""
        size = max(1, -(-len(self.pages) // batches))
        return [ClaimedPages(self.lease, self.pages[n * size : (n + 1) * size]) for n in range(batches)]


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    finished: int
    failed: int


async def count_one(client: aiohttp.ClientSession, page: PageToFetch, settings: FetchSettings) -> PageOutcome:
    """Fetch one page and count its word; every failure becomes an outcome with the reason."""
    started = time.perf_counter()

    def elapsed_ms() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        fetched = await fetch_page(client, page.url, settings)
    except FetchError as error:
        return PageOutcome(
            id=page.id,
            http_status=error.status_code,
            final_url=error.final_url,
            content_type=error.content_type,
            bytes_read=error.bytes_read,
            elapsed_ms=elapsed_ms(),
            error=str(error),
        )
    common = {
        "id": page.id,
        "http_status": fetched.status_code,
        "final_url": fetched.final_url,
        "content_type": fetched.content_type,
        "bytes_read": len(fetched.body),
    }
    try:
        if len(fetched.body) > LARGE_BODY:
            count, charset = await asyncio.to_thread(
                _count_body, fetched.body, fetched.content_type, page.word
            )
        else:
            count, charset = _count_body(fetched.body, fetched.content_type, page.word)
    except UnsupportedContent as exc:
        return PageOutcome(**common, elapsed_ms=elapsed_ms(), error=str(exc))
    return PageOutcome(**common, elapsed_ms=elapsed_ms(), count=count, charset=charset)


def _count_body(body: bytes, content_type: str | None, word: str) -> tuple[int, str]:
    text = decode_page(body, content_type)
    return count_word(text.text, word), text.charset


@asynccontextmanager
async def shared_page_client(batches: int) -> AsyncIterator[None]:
    """One page client for the ``count_pages`` batches run inside the block (up to ``batches`` at
    once), closed on leaving: a batch reuses the connections its predecessors opened."""
    async with page_client(get_settings().fetch, batches=batches) as client:
        token = _shared_client.set(client)
        try:
            yield
        finally:
            _shared_client.reset(token)


@asynccontextmanager
async def _batch_client(settings: FetchSettings) -> AsyncIterator[aiohttp.ClientSession]:
    """The shared client when a ``shared_page_client`` block is open, else one for this batch."""
    shared = _shared_client.get()
    if shared is not None and not shared.closed:
        yield shared
        return
    async with page_client(settings) as client:
        yield client


async def count_pages(
    request_id: int | None, batch_size: int | None = None, held: ClaimedPages | None = None
) -> BatchResult:
    """Claim one batch of up to ``batch_size`` pages (default ``webpages.batch_size``) of a request,
    or of any, fetch and count them, record the outcomes. ``held``: the batch's pages, claimed
    already (``batch_size`` is then not used)."""
    settings = get_settings()
    limit = batch_size or settings.webpages.batch_size
    sessions = session_factory()

    def claim(lease: Lease) -> list[PageToFetch]:
        if held is not None:
            return held.pages
        with sessions.begin() as session:
            return claim_pages(
                session,
                limit=limit,
                lease=lease,
                max_attempts=settings.webpages.max_attempts,
                request_id=request_id,
            )

    def record(outcomes: list[PageOutcome]) -> None:
        with sessions.begin() as session:
            record_outcomes(session, outcomes=outcomes)

    def renew(lease: Lease, ids: Sequence[int]) -> set[int]:
        with sessions.begin() as session:
            return renew_pages(session, ids=ids, lease=lease)

    async with _batch_client(settings.fetch) as client:

        async def work(page: PageToFetch) -> PageOutcome:
            return await count_one(client, page, settings.fetch)

        claimed, outcomes = await run_batch(
            Batch(
                claim=claim,
                work=work,
                record=record,
                renew=renew,
                item_id=lambda page: page.id,
                outcome_id=lambda outcome: outcome.id,
                crashed=lambda page, error: PageOutcome(id=page.id, error=error),
            ),
            lease_seconds=settings.webpages.lease_seconds,
            concurrency=settings.fetch.concurrency,
            group_size=settings.webpages.flush_every,
            lease=held.lease if held is not None else None,
        )
    failed = sum(1 for outcome in outcomes if outcome.error)
    return BatchResult(claimed=claimed, finished=len(outcomes) - failed, failed=failed)


def count_in_helper(request_id: int, batch_size: int | None = None) -> list[BatchResult]:
    """In a helper process: count batches of the request's pages until none is left to claim.

    On uvloop, whose event loop costs less CPU a page than asyncio's (the flow run's loop is Prefect's).
    """

    async def drain() -> list[BatchResult]:
        results: list[BatchResult] = []
        async with shared_page_client(batches=1):
            while not results or results[-1].claimed:
                results.append(await count_pages(request_id, batch_size))
        return results

    return uvloop.run(drain())
