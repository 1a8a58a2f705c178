"""Prefect tasks for web-page word counts: store a request, count batches of its pages (the work is in
``tasks/page_work.py``, Prefect-free, so helper processes can run it too), report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from commands.webpages import submit_and_claim
from core.processes import run_in_helper, start_helpers, stop_helpers
from core.settings import get_settings
from db.engine import session_factory
from db.webpages import CreatedRequest, RequestSummary, fail_abandoned, list_requests, request_pages
from tasks.claims import run_lease
from tasks.page_work import BatchResult, ClaimedPages, count_in_helper, count_pages
from tasks.page_work import share_size as share_size
from tasks.page_work import shared_page_client as shared_page_client  # the flow opens it around its lanes

ARTIFACT_ROWS = 200


# The tasks here never cache: Prefect's default policy hashes every task run's inputs and source.
@task(task_run_name="store {word!r} request", cache_policy=NO_CACHE)
async def store_request(urls: list[str], word: str, claim: int) -> tuple[CreatedRequest, ClaimedPages]:
    """Store a request and its pages, and claim the first ``claim`` of them for this run in the same
    transaction (no claim of its own before they are fetched); refused URLs are stored as failed.

    Async (the work in a thread): a sync task in the async flow would build its own Prefect client
    (~20–40 ms for its TLS context alone) in a thread of its own. Call it with ``quote(urls)``: Prefect
    would otherwise visit each of up to 10,000 URLs looking for futures, twice.
    """
    lease = run_lease(get_settings().webpages.lease_seconds)
    created, pages = await asyncio.to_thread(
        submit_and_claim, urls, word, source="flow", lease=lease, limit=claim
    )
    return created, ClaimedPages(lease, pages)


def _batch_run_name() -> str:
    params = task_run.parameters
    scope = f"request {params['request_id']}" if params.get("request_id") else "pending pages"
    return f"count {scope}, lane {params['lane']} batch {params['batch_no']}"


@task(task_run_name=_batch_run_name, cache_policy=NO_CACHE)
async def count_batch(
    request_id: int | None,
    lane: int,
    batch_no: int,
    batch_size: int | None = None,
    claimed: ClaimedPages | None = None,
) -> BatchResult:
    """Claim one batch of pages (of a request, or any), or take the ``claimed`` ones, fetch and count
    them, record the outcomes."""
    return await count_pages(request_id, batch_size, claimed)


@contextmanager
def page_helpers(processes: int) -> Iterator[None]:
    """Fork ``processes`` helper processes for ``count_in_helpers`` (none for 0), stopped on leaving.

    Enter it when no database work is in flight in this process (before the lanes start)."""
    if not processes:
        yield
        return
    start_helpers(processes)
    try:
        yield
    finally:
        stop_helpers(processes)


@task(task_run_name="count request {request_id} in {processes} helper processes", cache_policy=NO_CACHE)
async def count_in_helpers(
    request_id: int, processes: int, batch_size: int | None = None
) -> list[BatchResult]:
    """Count the request's pages in the helper processes (``page_helpers``) too, beside the flow's
    lanes (on another core).

    Best effort: a helper that fails is logged and its claimed pages come back after their lease.
    """
    runs = [run_in_helper(processes, count_in_helper, request_id, batch_size) for _ in range(processes)]
    results: list[BatchResult] = []
    for outcome in await asyncio.gather(*runs, return_exceptions=True):
        if isinstance(outcome, BaseException):
            get_run_logger().warning("a helper process failed: %s", outcome)
        else:
            results.extend(outcome)
    return results


@task(task_run_name="fail abandoned pages")
def fail_abandoned_pages() -> int:
    """Fail pages whose lease ran out too often; returns how many."""
    with session_factory().begin() as session:
        return fail_abandoned(session, max_attempts=get_settings().webpages.max_attempts)


@task(task_run_name="report request {request_id}", cache_policy=NO_CACHE)
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
