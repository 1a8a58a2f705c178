"""Briefs: collect articles for keywords from five content platforms, then analyse them into files.

``submit_brief`` stores a brief and collects at once; ``collect_brief`` fans out one task run per
platform, having started ``analyse_brief`` (the CPU-bound ``analysis`` work pool), which gets ready
meanwhile and analyses the brief once it is collected;
``process_briefs`` runs every minute and picks up whatever a lost run or a failed hand-off left.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_DATA_DIR`` (the files go to
``<data_dir>/briefs``), ``SWITCHYARD_BRIEFS__*`` (paging, retries, lease, analysis) and
``SWITCHYARD_PLATFORMS__<NAME>__*`` (base URL, API key — a secret — and concurrency per platform).
"""

# Parameter annotations stay objects (no `from __future__ import annotations`): serve pickles a flow by
# value into its run's process, where a string naming `Annotated` could not be resolved.
import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.states import Completed
from pydantic import Field

from core.names import ANALYSE_BRIEF, COLLECT_BRIEF, analyse_run_name, collect_run_name
from core.settings import PLATFORMS
from db.briefs import ClaimedBrief, SearchOutcome
from rules.briefs import Stage
from tasks.artifacts import ProgressReporter
from tasks.brief_collection import collect_platform
from tasks.briefs import (
    analyse_claimed,
    analysis_pool_ahead,
    claim_for_stage,
    collection_progress,
    fail_abandoned_briefs,
    find_waiting,
    mark_collected,
    mark_failed,
    prepare_analysis,
    record_analysis,
    runs_in_progress,
    store_brief,
    wait_for_collection,
)
from tasks.claims import release_dead_runs_claims

PROGRESS_EVERY = 1.0  # seconds between progress artifact updates while collecting
STAGE_NAMES = {Stage.COLLECT: "collection", Stage.ANALYSE: "analysis"}
DEPLOYMENTS = {Stage.COLLECT: COLLECT_BRIEF, Stage.ANALYSE: ANALYSE_BRIEF}
RUN_NAMES = {Stage.COLLECT: collect_run_name, Stage.ANALYSE: analyse_run_name}


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
    return ended(await collect(brief_id))


@flow(flow_run_name=_collect_run_name)
async def collect_brief(brief_id: int) -> dict[str, Any]:
    """Search every keyword on every platform of the brief, store the articles, hand it to analysis."""
    return ended(await collect(brief_id))


def ended(result: dict[str, Any]) -> Any:
    """The run's final state: completed, its message naming the brief and what was done, its result
    ``result`` (which holds the brief id), so whoever started the run can tell which brief it was."""
    done = ", ".join(f"{key} {value}" for key, value in result.items() if key != "brief_id")
    return Completed(message=f"brief {result['brief_id']}: {done}", data=result)


async def collect(brief_id: int) -> dict[str, Any]:
    """The work of `collect_brief`, in the calling flow run (``submit_brief`` runs it in its own).

    The analysis run is started as soon as the brief is claimed (unless one is queued or running for
    it already), beside the searches, so that it gets ready while the platforms are searched and
    begins the moment the brief is collected. Without one (no deployment), this run analyses the
    brief, having loaded what the analysis needs while the platforms were searched.
    """
    with ExitStack() as ahead:  # what is prepared for this run's analysis, ended whatever happens
        async with claimed(brief_id, Stage.COLLECT) as brief:
            if brief is None:
                return {"brief_id": brief_id, "collected": False}
            handing_off = asyncio.create_task(_hand_off_or_prepare(brief, ahead))
            try:
                outcomes = await _collect_with_progress(brief)
            finally:
                preparing = await handing_off  # a run started for a brief that failed finds it failed
            collected = mark_collected(brief)
        totals = {
            "articles": sum(o.articles for o in outcomes),
            "malformed": sum(o.malformed for o in outcomes),
            "searches_with_errors": sum(1 for o in outcomes if o.error),
        }
        if not collected:
            get_run_logger().warning("brief %s was taken over by a later run: left to it", brief_id)
            return {"brief_id": brief_id, "collected": False, **totals}
        get_run_logger().info("brief %s collected: %s", brief_id, totals)
        if preparing is not None:
            await asyncio.to_thread(preparing.wait)
            await analyse(brief_id)
    return {"brief_id": brief_id, "collected": True, **totals}


async def _hand_off_or_prepare(brief: ClaimedBrief, ahead: ExitStack) -> PrefectFuture[None] | None:
    """Start the brief's analysis run (None), or, without one, prepare this run to analyse it: the
    analysis's pool forked (its workers build rjieba's dictionary in processes of their own, until
    ``ahead`` closes if the analysis does not take the pool), and the font and rjieba's total in a
    thread while the platforms are searched (the future to wait for).

    Not jieba nor rjieba's dictionary in this process: CPU holding the GIL the searches need, and
    most briefs have no text that needs jieba (the analysis loads it before forking if one does).
    Run beside the searches, not before them: the hand-off's API calls take 0.1–0.3 s, and 2 s more
    when the Prefect server (on SQLite) answers one with 503 busy, which Prefect's client waits out
    before it tries again.
    """
    if await hand_off(Stage.ANALYSE, brief.id):
        return None
    ahead.enter_context(analysis_pool_ahead(brief))
    return prepare_analysis.submit(load_jieba=False, build_segmenter=False)


@asynccontextmanager
async def claimed(brief_id: int, stage: Stage) -> AsyncIterator[ClaimedBrief | None]:
    """The brief claimed for ``stage`` (None if it is not waiting for it); a failure in the block is
    recorded on the brief with its reason, then raised."""
    brief = claim_for_stage(brief_id, stage)
    if brief is None:
        get_run_logger().info(
            "brief %s is not waiting to %s: another run has it, or it is done", brief_id, stage.value
        )
        yield None
        return
    try:
        yield brief
    except Exception as exc:
        mark_failed(brief, f"{STAGE_NAMES[stage]} failed: {exc}")
        raise


async def _collect_with_progress(brief: ClaimedBrief) -> list[SearchOutcome]:
    """Run one collection task per platform while a progress artifact follows the searches."""
    platforms = sorted({search.platform for search in brief.searches}, key=brief.platforms.index)
    collecting = asyncio.gather(*(collect_platform(brief, platform) for platform in platforms))
    progress = ProgressReporter(partial(collection_progress, brief.id), every=PROGRESS_EVERY)
    await progress.update(force=True)
    while True:
        done, _ = await asyncio.wait({collecting}, timeout=PROGRESS_EVERY)
        await progress.update(force=bool(done))
        if done:
            return [outcome for outcomes in collecting.result() for outcome in outcomes]


async def hand_off(stage: Stage, brief_id: int) -> bool:
    """Make sure a run of the stage's deployment is queued or running for the brief (starting one if
    none is); False if there is none and none could be started, so the caller does the work itself."""
    name = RUN_NAMES[stage](brief_id)
    try:
        if name in await runs_in_progress([name]):
            return True
    except Exception as exc:  # the API cannot say: starting another run is still safe (claims are atomic)
        get_run_logger().warning("could not look up the runs of brief %s (%s)", brief_id, exc)
    return await start_stage_run(stage, brief_id)


async def start_stage_run(stage: Stage, brief_id: int) -> bool:
    """Start the stage's deployment for the brief (its own work pool); False if none could be started."""
    deployment = DEPLOYMENTS[stage]
    try:
        await run_deployment(
            name=deployment,
            parameters={"brief_id": brief_id},
            flow_run_name=RUN_NAMES[stage](brief_id),
            timeout=0,
            # its own run, not a subflow: the subflow's parent task run is one more write, which a
            # busy SQLite Prefect server often refuses, and the client tries again 2 s later
            as_subflow=False,
        )
    except ObjectNotFound:
        get_run_logger().info("no %s deployment: brief %s is worked on in this run", deployment, brief_id)
        return False
    except Exception as exc:  # the server refused or is gone: the brief must not fail for that
        get_run_logger().warning(
            "could not start %s (%s): brief %s is worked on in this run", deployment, exc, brief_id
        )
        return False
    return True


@flow(flow_run_name="analyse brief {brief_id}")
async def analyse_brief(brief_id: int) -> dict[str, Any]:
    """Segment the brief's articles, count keywords, write both workbooks, both word clouds and the zip.

    Started while the brief is still being collected, it loads the font and rjieba's total, then waits
    for it. Not jieba: loading it (~0.9 s of CPU) ended after the collection on a machine of two cores;
    the analysis loads it before its pool forks when a text needs it.
    """
    prepare_analysis(load_jieba=False)
    await wait_for_collection(brief_id)
    return ended(await analyse(brief_id))


async def analyse(brief_id: int) -> dict[str, Any]:
    """The work of `analyse_brief`, in the calling flow run."""
    async with claimed(brief_id, Stage.ANALYSE) as brief:
        if brief is None:
            return {"brief_id": brief_id, "analysed": False}
        analysis = analyse_claimed(brief)
        zip_path = await record_analysis(brief, analysis)
    if zip_path is None:
        return {"brief_id": brief_id, "analysed": False}
    get_run_logger().info(
        "brief %s: %s articles analysed in %.2f s", brief_id, analysis.articles, analysis.seconds
    )
    return {
        "brief_id": brief_id,
        "analysed": True,
        "articles": analysis.articles,
        "zip": zip_path,
    }


WORK = {Stage.COLLECT: collect, Stage.ANALYSE: analyse}


@flow(flow_run_name="process waiting briefs")
async def process_briefs() -> dict[str, int]:
    """Hand every brief waiting for a stage to a run of it, unless one is queued or running for it.

    Briefs whose run was lost (lease lapsed) count as waiting; without the deployment (or when it
    cannot be started) the work is done in this run. Every waiting brief is seen, 50 at a time. First
    it gives back what crashed runs of any domain still hold (briefs included: their lease is long).
    """
    released = await release_dead_runs_claims()
    counts = {"released": released, "abandoned": fail_abandoned_briefs()}
    counts |= {"collect": 0, "analyse": 0, "left_to_their_runs": 0}
    for stage in Stage:
        after = 0
        while batch := find_waiting(stage, after):
            after = batch[-1]
            names = {RUN_NAMES[stage](brief_id): brief_id for brief_id in batch}
            try:
                busy = {names[name] for name in await runs_in_progress(list(names))}
            except Exception as exc:  # without knowing which runs exist, starting more could duplicate them
                get_run_logger().warning("could not look up runs (%s): the next sweep hands these off", exc)
                continue
            counts["left_to_their_runs"] += len(busy)
            for brief_id in batch:
                if brief_id in busy:
                    continue
                if not await start_stage_run(stage, brief_id):
                    await WORK[stage](brief_id)
                counts[stage.value] += 1
    return counts
