"""Growth automation: sync connected accounts, plan and run like, follow and unfollow jobs.

Collection runs on the ``collect`` pool (``sync_account``, ``sync_accounts``, ``plan_likes``,
``plan_follows``), actions on ``actions`` (``run_likes``, ``run_follows``, ``run_unfollows``). Each
sweep works up to ``growth.jobs_at_once`` jobs side by side, one claimed batch after another, until
no job is left to claim; a job that must wait (hours, quota, block, back-off) sleeps in the database
and a later sweep picks it up.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_SECRET_KEYS`` (the accounts' sessions are
encrypted with them), ``SWITCHYARD_NETWORK__*`` (the network's base URL and timeouts) and
``SWITCHYARD_GROWTH__*`` (the job logic's defaults, lanes, leases).
"""

# Parameter annotations stay objects (no `from __future__ import annotations`): serve pickles a flow by
# value into its run's process, where a string naming `Annotated` could not be resolved.
import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from pydantic import Field

from core.names import (
    PLAN_FOLLOWS_RUN,
    PLAN_LIKES_NOW,
    PLAN_LIKES_RUN,
    RUN_FOLLOWS_NOW,
    RUN_FOLLOWS_RUN,
    RUN_LIKES_NOW,
    RUN_LIKES_RUN,
    sync_run_name,
)
from core.settings import get_settings
from db.claims import Lease
from db.growth.jobs import ClaimedJob
from rules.growth import JobKind, JobStatus
from tasks.growth_actions import BatchResult, act_on_job, claim_for_acting
from tasks.growth_planning import (
    PlanResult,
    accounts_to_sync,
    claim_for_planning,
    fail_abandoned_jobs,
    open_like_jobs,
    open_unfollow_jobs,
    plan_job,
)
from tasks.growth_sync import SyncResult, sync_account_task

R = TypeVar("R")


async def _in_lanes(
    claim: Callable[[], tuple[ClaimedJob, Lease] | None], work: Callable[[ClaimedJob, Lease], Awaitable[R]]
) -> list[R]:
    """``growth.jobs_at_once`` lanes, each claiming a job and working it until none is left to claim.

    A batch that fails (its database writes refused, …) is logged and its lane goes on with the next
    job: the failed job keeps its claim until the lease lapses, then another run takes it up (and
    checks on the network whatever it had sent), so one bad job never stops the others.
    """

    async def lane() -> list[R]:
        results = []
        while (claimed := await asyncio.to_thread(claim)) is not None:
            try:
                results.append(await work(*claimed))
            except Exception as exc:  # one job's failure: the others go on
                get_run_logger().error(
                    "job %s failed in this run: %s", claimed[0].id, exc or type(exc).__name__
                )
        return results

    lanes = await asyncio.gather(*(lane() for _ in range(get_settings().growth.jobs_at_once)))
    return [result for results in lanes for result in results]


async def _start_next(deployment: str, run_name: str) -> bool:
    """Start the next deployment now for work just made ready (its sweep is only a backstop); False
    if it could not be started (the sweep takes the work then)."""
    try:
        await run_deployment(name=deployment, flow_run_name=run_name, timeout=0)
    except ObjectNotFound:
        get_run_logger().info("no %s deployment: the work waits for its sweep", deployment)
        return False
    except Exception as exc:  # the server refused or is gone: the jobs are stored, the sweep takes them
        get_run_logger().warning(
            "could not start %s (%s): the planned jobs wait for its sweep", deployment, exc
        )
        return False
    return True


async def _plan(kind: JobKind, acting: str, acting_run: str) -> dict[str, int]:
    abandoned = fail_abandoned_jobs()
    results: list[PlanResult] = await _in_lanes(lambda: claim_for_planning(kind), plan_job)
    if any(result.status is JobStatus.FOLLOWS for result in results):
        await _start_next(acting, acting_run)
    totals = {
        "jobs": len(results),
        "candidates": sum(r.candidates for r in results),
        "skipped": sum(r.skipped for r in results),
        "abandoned": abandoned,
    }
    get_run_logger().info("planned %s jobs: %s", kind, totals)
    return totals


async def _act(kind: JobKind) -> dict[str, int]:
    abandoned = fail_abandoned_jobs()
    results: list[BatchResult] = await _in_lanes(lambda: claim_for_acting(kind), act_on_job)
    totals = {
        "batches": len(results),
        "done": sum(r.done for r in results),
        "failed": sum(r.failed for r in results),
        "unknown": sum(r.unknown for r in results),
        "put_back": sum(r.deferred for r in results),
        "abandoned": abandoned,
    }
    get_run_logger().info("%s batches: %s", kind, totals)
    return totals


def _sync_run_name() -> str:
    return sync_run_name(flow_run.parameters["account_id"])


@flow(flow_run_name=_sync_run_name)
async def sync_account(
    account_id: Annotated[int, Field(ge=1, description="a connected account's id")],
) -> dict:
    """Fetch one account's details, then its followers and followings (started when it is added)."""
    result: SyncResult = await sync_account_task(account_id)
    get_run_logger().info("synced @%s: %s", result.username, result)
    if result.error is None and result.likes_on:  # its followers are known now: a like job can start
        await _start_next(PLAN_LIKES_NOW, PLAN_LIKES_RUN)
    return result.__dict__


@flow(flow_run_name="sync every account")
async def sync_accounts() -> dict[str, int]:
    """Sync every account not waiting for a person, ``growth.syncs_at_once`` at a time."""
    slots = asyncio.Semaphore(get_settings().growth.syncs_at_once)

    async def one(account_id: int) -> SyncResult:
        async with slots:
            return await sync_account_task(account_id)

    results = await asyncio.gather(*(one(account_id) for account_id in accounts_to_sync()))
    failed = [r for r in results if r.error]
    for result in failed:
        get_run_logger().warning("sync of @%s failed: %s", result.username, result.error)
    return {"accounts": len(results), "failed": len(failed), "followers": sum(r.followers for r in results)}


@flow(flow_run_name=PLAN_LIKES_RUN)
async def plan_likes() -> dict[str, int]:
    """Open a like job for every account due one, choose the followers whose posts it likes, and
    start liking them."""
    opened = open_like_jobs()
    return {"opened": len(opened)} | await _plan(JobKind.LIKE, RUN_LIKES_NOW, RUN_LIKES_RUN)


@flow(flow_run_name=RUN_LIKES_RUN)
async def run_likes() -> dict[str, int]:
    """Like the queued posts of every like job, a batch at a time."""
    return await _act(JobKind.LIKE)


@flow(flow_run_name=PLAN_FOLLOWS_RUN)
async def plan_follows() -> dict[str, int]:
    """Collect the candidates of new follow jobs (by target account, location or hashtag), and start
    following them."""
    return await _plan(JobKind.FOLLOW, RUN_FOLLOWS_NOW, RUN_FOLLOWS_RUN)


@flow(flow_run_name=RUN_FOLLOWS_RUN)
async def run_follows() -> dict[str, int]:
    """Follow the candidates of every follow job, a batch at a time."""
    return await _act(JobKind.FOLLOW)


@flow(flow_run_name="run unfollow jobs")
async def run_unfollows() -> dict[str, int]:
    """Open an unfollow job for every account with someone to unfollow, and unfollow them."""
    opened = open_unfollow_jobs()
    return {"opened": len(opened)} | await _act(JobKind.UNFOLLOW)
