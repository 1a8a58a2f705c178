"""Briefs: collect articles for keywords from five content platforms, then analyse them into files.

``submit_brief`` stores a brief and collects at once; ``collect_brief`` fans out one task run per
platform, having started ``analyse_brief`` (the CPU-bound ``analysis`` work pool), which gets ready
meanwhile and analyses the brief once it is collected;
``process_briefs`` runs every minute and picks up whatever a lost run or a failed hand-off left.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_DATA_DIR`` (the files go to
``<data_dir>/briefs``), ``SWITCHYARD_BRIEFS__*`` (paging, retries, lease, analysis) and
``SWITCHYARD_PLATFORMS__<NAME>__*`` (base URL, API key — a secret — and concurrency per platform).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from pydantic import Field

from core.names import ANALYSE_BRIEF, analyse_run_name, collect_run_name
from core.settings import PLATFORMS
from db.briefs import ClaimedBrief, SearchOutcome
from tasks.briefs import (
    analyse_claimed,
    claim_for_stage,
    collect_platform,
    fail_abandoned_briefs,
    find_waiting,
    mark_collected,
    mark_failed,
    prepare_analysis,
    record_analysis,
    report_collection,
    store_brief,
    wait_for_collection,
)

PROGRESS_EVERY = 1.0  # seconds between progress artifact updates while collecting
STAGE_NAMES = {"collect": "collection", "analyse": "analysis"}


def _submit_run_name() -> str:
    params = flow_run.parameters
    platforms = params.get("platforms") or PLATFORMS
    return f"brief {', '.join(params['keywords'])!r} on {len(platforms)} platforms"


def _collect_run_name() -> str:
    return collect_run_name(flow_run.parameters["brief_id"])


@flow(flow_run_name=_submit_run_name)
async def submit_brief(
    keywords: Annotated[list[str], Field(min_length=1, max_length=100, description="keywords to brief on")],
    platforms: Annotated[
        list[str] | None, Field(description=f"some of {', '.join(PLATFORMS)}; empty means all")
    ] = None,
    since: Annotated[datetime | None, Field(description="earliest post time, with an offset")] = None,
    until: Annotated[datetime | None, Field(description="latest post time, with an offset")] = None,
) -> dict[str, Any]:
    """Validate and store a brief, then collect and analyse it at once."""
    brief_id = store_brief(keywords, platforms or None, since, until)
    get_run_logger().info("stored brief %s", brief_id)
    return {"brief_id": brief_id, **await collect(brief_id)}


@flow(flow_run_name=_collect_run_name)
async def collect_brief(brief_id: int) -> dict[str, Any]:
    """Search every keyword on every platform of the brief, store the articles, hand it to analysis."""
    return await collect(brief_id)


async def collect(brief_id: int) -> dict[str, Any]:
    """The work of `collect_brief`, in the calling flow run (``submit_brief`` runs it in its own).

    The analysis run is started as soon as the brief is claimed, so that it gets ready while the
    platforms are searched and begins the moment the brief is collected.
    """
    async with claimed(brief_id, "collect") as brief:
        if brief is None:
            return {"collected": False}
        analysis_started = await start_analysis(brief_id)
        outcomes = await _collect_with_progress(brief)
        mark_collected(brief_id)
    totals = {
        "articles": sum(o.articles for o in outcomes),
        "malformed": sum(o.malformed for o in outcomes),
        "searches_with_errors": sum(1 for o in outcomes if o.error),
    }
    get_run_logger().info("brief %s collected: %s", brief_id, totals)
    if not analysis_started:
        await analyse(brief_id)
    return {"collected": True, **totals}


@asynccontextmanager
async def claimed(brief_id: int, stage: str) -> AsyncIterator[ClaimedBrief | None]:
    """The brief claimed for ``stage`` (None if it is not waiting for it); a failure in the block is
    recorded on the brief with its reason, then raised."""
    brief = claim_for_stage(brief_id, stage)
    if brief is None:
        get_run_logger().info(
            "brief %s is not waiting to %s: another run has it, or it is done", brief_id, stage
        )
        yield None
        return
    try:
        yield brief
    except Exception as exc:
        mark_failed(brief_id, f"{STAGE_NAMES[stage]} failed: {exc}")
        raise


async def _collect_with_progress(brief: ClaimedBrief) -> list[SearchOutcome]:
    """Run one collection task per platform while a progress artifact follows the searches."""
    collecting = asyncio.gather(*(collect_platform(brief, platform) for platform in brief.platforms))
    artifact = await report_collection(brief.id, None)
    while True:
        done, _ = await asyncio.wait({collecting}, timeout=PROGRESS_EVERY)
        await report_collection(brief.id, artifact)
        if done:
            return [outcome for outcomes in collecting.result() for outcome in outcomes]


async def start_analysis(brief_id: int) -> bool:
    """Start the analysis deployment for the brief (its own work pool); False if none could be started."""
    try:
        await run_deployment(
            name=ANALYSE_BRIEF,
            parameters={"brief_id": brief_id},
            flow_run_name=analyse_run_name(brief_id),
            timeout=0,
        )
    except ObjectNotFound:
        get_run_logger().info("no %s deployment: brief %s is analysed in this run", ANALYSE_BRIEF, brief_id)
        return False
    except Exception as exc:  # the server refused or is gone: the brief must not fail for that
        get_run_logger().warning(
            "could not start %s (%s): brief %s is analysed in this run", ANALYSE_BRIEF, exc, brief_id
        )
        return False
    return True


@flow(flow_run_name="analyse brief {brief_id}")
async def analyse_brief(brief_id: int) -> dict[str, Any]:
    """Segment the brief's articles, count keywords, write both workbooks, both word clouds and the zip.

    Started while the brief is still being collected, it loads jieba and the font, then waits for it.
    """
    prepare_analysis()
    await wait_for_collection(brief_id)
    return await analyse(brief_id)


async def analyse(brief_id: int) -> dict[str, Any]:
    """The work of `analyse_brief`, in the calling flow run."""
    async with claimed(brief_id, "analyse") as brief:
        if brief is None:
            return {"analysed": False}
        analysis = analyse_claimed(brief)
        await record_analysis(brief_id, analysis)
    get_run_logger().info(
        "brief %s: %s articles analysed in %.2f s", brief_id, analysis.articles, analysis.seconds
    )
    return {"analysed": True, "articles": analysis.articles, "zip": str(analysis.zip_path)}


@flow(flow_run_name="process waiting briefs")
async def process_briefs() -> dict[str, int]:
    """Collect the briefs waiting for it and hand collected ones to analysis, lost runs' briefs included."""
    abandoned = fail_abandoned_briefs()
    to_collect = find_waiting("collect")
    for brief_id in to_collect:
        await collect_brief(brief_id)
    to_analyse = find_waiting("analyse")
    for brief_id in to_analyse:
        if not await start_analysis(brief_id):
            await analyse(brief_id)
    return {"collected": len(to_collect), "handed_to_analysis": len(to_analyse), "abandoned": abandoned}
