"""Idle sweeps skip before a process starts for them.

Every run of a sweep costs a flow run at the Prefect server and in serve (its states, task runs,
events and logs; before warm starts a new interpreter too) even when it finds nothing to do. So,
shortly before each scheduled run of the sweeps below is due (before serve's runner fetches it), this
loop asks the app's database one cheap question (db/sweeps.py); with nothing to look at, the run is
set Completed, named "Skipped" (`late_runs.skipped_state`; the Prefect UI shows the reason), and no process
starts. Anything the sweep could act on within `AHEAD` counts; a run the loop does not see in time
runs as before. Every sweep but two has a check: ``sync-accounts`` (daily) and ``daily-report``
always run, and ``poll-and-repost`` is skipped only when no channel reposts (whether a timeline has
anything new, only a poll of the platform tells). serve runs it in a thread of its own
(``SWITCHYARD_SERVE__SKIP_IDLE_SWEEPS``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound

from core.names import (
    DISPATCH_MAILINGS,
    PLAN_FOLLOWS,
    PLAN_LIKES,
    POLL_AND_REPOST,
    PROCESS_BRIEFS,
    PROCESS_PENDING,
    PUBLISH_DUE_POSTS,
    REFRESH_TOKENS,
    RUN_FOLLOWS,
    RUN_LIKES,
    RUN_UNFOLLOWS,
)
from db import sweeps
from db.engine import session_factory
from deployments import late_runs
from tasks.channels_tokens import AHEAD as TOKENS_AHEAD

logger = logging.getLogger(__name__)

Check = Callable[..., bool]
CHECKS: dict[str, Check] = {
    PROCESS_PENDING: sweeps.pages_waiting,
    DISPATCH_MAILINGS: sweeps.messages_waiting,
    PROCESS_BRIEFS: sweeps.briefs_waiting,
    PUBLISH_DUE_POSTS: sweeps.posts_waiting,
    PLAN_LIKES: sweeps.like_jobs_to_plan,
    PLAN_FOLLOWS: sweeps.follow_jobs_to_plan,
    RUN_LIKES: sweeps.likes_to_do,
    RUN_FOLLOWS: sweeps.follows_to_do,
    RUN_UNFOLLOWS: sweeps.unfollows_to_do,
    POLL_AND_REPOST: sweeps.channels_reposting,
    REFRESH_TOKENS: partial(sweeps.tokens_expiring, within=TOKENS_AHEAD),
}
EVERY = 10.0  # seconds between looks
PREFETCH = 10.0  # serve's runner takes a run this many seconds before it is due (Prefect's default)
MARGIN = 3.0  # seconds kept clear of the runner's reach
AHEAD = timedelta(minutes=2)  # work due this soon counts: the run is judged up to half a minute early
SKIPPED = "nothing to do: skipped before a process started"


async def skip_idle_runs(client: PrefectClient, checks: dict[UUID, Check], now: datetime) -> int:
    """Skip the scheduled runs, due soon but not yet within the runner's reach, of every sweep in
    ``checks`` (by deployment id) that has nothing to do; how many were skipped."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=list(checks)),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            expected_start_time=FlowRunFilterExpectedStartTime(
                after_=now + timedelta(seconds=PREFETCH + MARGIN),
                before_=now + timedelta(seconds=PREFETCH + MARGIN + 2 * EVERY),
            ),
        )
    )
    idle: dict[UUID, bool] = {}
    skipped = 0
    for run in runs:
        if not run.auto_scheduled or run.deployment_id is None:
            continue  # started by hand: never touched
        if run.deployment_id not in idle:
            with session_factory()() as session:
                idle[run.deployment_id] = not checks[run.deployment_id](session, now=now, ahead=AHEAD)
        if idle[run.deployment_id]:
            await client.set_flow_run_state(run.id, late_runs.skipped_state(SKIPPED))
            skipped += 1
    return skipped


async def sweep_ids(client: PrefectClient) -> dict[UUID, Check]:
    """The checks by deployment id, for the sweeps registered so far."""
    found: dict[UUID, Check] = {}
    for name, check in CHECKS.items():
        try:
            found[(await client.read_deployment_by_name(name)).id] = check
        except ObjectNotFound:
            continue
    return found


async def watch(every: float = EVERY) -> None:
    """Skip idle sweep runs every ``every`` seconds, for ever; a failed look is logged and retried.

    One Prefect client for as long as it works (a new client costs ~20 ms of CPU: its TLS context
    reads the CA bundle, even for a plain-HTTP API; one every 10 s was half of an idle serve's CPU)."""
    checks: dict[UUID, Check] = {}
    while True:
        try:
            async with get_client() as client:
                while True:
                    if len(checks) < len(CHECKS):
                        checks = await sweep_ids(client)
                    if checks and (skipped := await skip_idle_runs(client, checks, datetime.now(UTC))):
                        logger.info("skipped %d idle sweep runs (nothing to do)", skipped)
                    await asyncio.sleep(every)
        except Exception as exc:  # the loop must outlive a busy server or database: the runs just run
            logger.warning("could not check the sweeps (%s); their runs go ahead", exc)
        await asyncio.sleep(every)


def start_watching() -> threading.Thread:
    """`watch` in a daemon thread with an event loop of its own."""
    thread = threading.Thread(target=asyncio.run, args=(watch(),), name="quiet-sweeps", daemon=True)
    thread.start()
    return thread
