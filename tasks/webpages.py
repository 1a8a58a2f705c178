"""Prefect tasks for web-page word counts, and the per-page work they run.

A batch is one task run: claim up to ``batch_size`` pages, fetch them concurrently through one
shared client, count, and write the outcomes in a few round trips as they complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from prefect import task
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import task_run

from commands.webpages import submit_pages
from connectors.web import FetchError, fetch_page, page_client
from core.settings import FetchSettings, get_settings
from db.claims import Lease
from db.engine import session_factory
from db.webpages import (
    CreatedRequest,
    PageOutcome,
    PageToFetch,
    RequestSummary,
    claim_pages,
    fail_abandoned,
    list_requests,
    record_outcomes,
    renew_pages,
    request_pages,
)
from rules.wordcount import UnsupportedContent, count_word, decode_page
from tasks.batch import Batch, run_batch

LARGE_BODY = 512 * 1024  # counted in a worker thread so the event loop keeps serving other fetches
ARTIFACT_ROWS = 200


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


@task(task_run_name="store {word!r} request")
async def store_request(urls: list[str], word: str, source: str = "flow") -> CreatedRequest:
    """Store a request and its pages; refused URLs are stored as failed at once.

    Async (the work in a thread): a sync task in the async flow would build its own Prefect client
    (~20–40 ms for its TLS context alone) in a thread of its own.
    """
    return await asyncio.to_thread(submit_pages, urls, word, source=source)


def _batch_run_name() -> str:
    params = task_run.parameters
    scope = f"request {params['request_id']}" if params.get("request_id") else "pending pages"
    return f"count {scope}, lane {params['lane']} batch {params['batch_no']}"


@task(task_run_name=_batch_run_name)
async def count_batch(request_id: int | None, lane: int, batch_no: int) -> BatchResult:
    """Claim one batch of pages (of a request, or any), fetch and count them, record the outcomes."""
    settings = get_settings()
    sessions = session_factory()

    def claim(lease: Lease) -> list[PageToFetch]:
        with sessions.begin() as session:
            return claim_pages(
                session,
                limit=settings.webpages.batch_size,
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

    async with page_client(settings.fetch) as client:

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
        )
    failed = sum(1 for outcome in outcomes if outcome.error)
    return BatchResult(claimed=claimed, finished=len(outcomes) - failed, failed=failed)


@task(task_run_name="fail abandoned pages")
def fail_abandoned_pages() -> int:
    """Fail pages whose lease ran out too often; returns how many."""
    with session_factory().begin() as session:
        return fail_abandoned(session, max_attempts=get_settings().webpages.max_attempts)


@task(task_run_name="report request {request_id}")
async def report_request(request_id: int) -> dict[str, int]:
    """Count the request's pages by status and publish its results as a table artifact."""

    def read() -> tuple[RequestSummary, list[dict[str, object]]]:
        with session_factory().begin() as session:
            (summary,) = list_requests(session, request_ids=[request_id], limit=1)
            rows = [
                {
                    "url": p.url,
                    "status": p.status.value,
                    "count": p.count,
                    "http": p.http_status,
                    "error": p.last_error or "",
                }
                for p in request_pages(session, request_id=request_id, limit=ARTIFACT_ROWS)
            ]
        return summary, rows

    summary, rows = await asyncio.to_thread(read)
    await acreate_table_artifact(
        table=rows,
        key=f"word-counts-request-{request_id}",
        description=f"Word {summary.word!r}: {summary.finished} finished, {summary.failed} failed "
        f"of {summary.total} pages (first {ARTIFACT_ROWS} shown)",
    )
    return {
        "total": summary.total,
        "finished": summary.finished,
        "failed": summary.failed,
        "unfinished": summary.not_started + summary.pending,
    }
