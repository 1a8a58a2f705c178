"""Web-page word counts: count a word on many pages, and pick up whatever was left unfinished.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_FETCH__*`` (timeouts, size cap, allowed
networks), ``SWITCHYARD_WEBPAGES__*`` (batch size, lanes, lease). No secrets.
"""

# Parameter annotations stay objects (no `from __future__ import annotations`): serve pickles a flow by
# value into its run's process, where a string naming `Annotated` could not be resolved.
import asyncio
from collections.abc import Awaitable
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote
from pydantic import Field

from core.names import pending_run_name
from core.settings import get_settings
from flows.lanes import drain_in_lanes
from tasks.claims import release_dead_runs_claims
from tasks.webpages import (
    BatchResult,
    ClaimedPages,
    count_batch,
    count_in_helpers,
    fail_abandoned_pages,
    page_helpers,
    report_request,
    share_size,
    shared_page_client,
    store_request,
)


def _count_run_name() -> str:
    params = flow_run.parameters
    return f"count {len(params['urls'])} urls for {params.get('word', 'python')!r}"


def _pending_run_name() -> str:
    return pending_run_name(flow_run.parameters.get("request_id"))


async def _drain(
    request_id: int | None,
    total: int | None = None,
    helpers: int = 0,
    first: ClaimedPages | None = None,
) -> list[BatchResult]:
    """Count pages in lanes until nothing of the request (or at all) is left to claim, or until the
    ``total`` pages known to be waiting have been claimed; ``helpers`` helper processes (another
    core, started with ``page_helpers``) count the request's pages too. With a ``total``, batches are
    small enough that each lane and helper gets a share of a small request (``share_size``), and the
    lanes' first batches are the ``first`` pages (claimed as the request was stored)."""
    settings = get_settings().webpages
    lanes = settings.lanes
    size = share_size(total, lanes + helpers, settings.batch_size) if total else None
    firsts = first.share(lanes) if first is not None else []

    def batch(lane: int, batch_no: int) -> Awaitable[BatchResult]:
        claimed = firsts[lane - 1] if batch_no == 1 and firsts else None
        return count_batch(request_id, lane=lane, batch_no=batch_no, batch_size=size, claimed=quote(claimed))

    async with shared_page_client(batches=lanes):  # the lanes' batches reuse its connections
        in_lanes = drain_in_lanes(batch, lanes, total=total, held=len(first.pages) if first else 0)
        if request_id is None or not helpers:
            return await in_lanes
        from_lanes, from_helpers = await asyncio.gather(
            in_lanes, count_in_helpers(request_id, helpers, batch_size=size)
        )
    return from_lanes + from_helpers


@flow(flow_run_name=_count_run_name, log_prints=True)
async def count_words(
    urls: Annotated[list[str], Field(min_length=1, description="web addresses, http or https")],
    word: Annotated[str, Field(min_length=1, max_length=100)] = "python",
) -> dict[str, int]:
    """Store a request for ``word`` on ``urls`` and count it on every page now (with
    ``webpages.helper_processes`` helper processes on a request of at least ``webpages.helper_from``)."""
    logger = get_run_logger()
    settings = get_settings().webpages
    # Decided on the URLs given (duplicates and refusals are known once stored), so that the helpers
    # are forked before this process uses the database, and start while the request is stored.
    helpers = settings.helper_processes if len(urls) >= settings.helper_from else 0
    first = settings.lanes * share_size(len(urls), settings.lanes + helpers, settings.batch_size)
    with page_helpers(helpers):
        created, claimed = await store_request(quote(urls), word, claim=first)
        for url, reason in created.refused.items():
            logger.warning("refused %s: %s", url, reason)
        await _drain(created.id, total=created.accepted, helpers=helpers, first=claimed)
    summary = await report_request(created.id)
    logger.info("request %s: %s", created.id, summary)
    return {"request_id": created.id, **summary}


@flow(flow_run_name=_pending_run_name)
async def process_pending(request_id: int | None = None) -> dict[str, int]:
    """Count every page still waiting (of one request, or all): new ones and those a lost run left.

    First it gives back what crashed runs of any domain still hold (their leases ended at once).
    """
    released = await release_dead_runs_claims()
    abandoned = fail_abandoned_pages()
    results = await _drain(request_id)
    totals = {
        "claimed": sum(r.claimed for r in results),
        "finished": sum(r.finished for r in results),
        "failed": sum(r.failed for r in results),
        "abandoned": abandoned,
        "released": released,
    }
    get_run_logger().info("processed pending pages: %s", totals)
    if request_id is not None:
        await report_request(request_id)
    return totals
