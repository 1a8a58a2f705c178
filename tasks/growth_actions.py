"""Acting for growth jobs: one batch of likes, follows or unfollows of one held job per task run, on
the kit's batch skeleton.

Before each action the account's turn is taken (the job still held, the account active, the action
not blocked, inside working hours, quotas, the pacing slot). A block freezes the action on every
worker, a challenge stops the account, a 429 backs off; after any of these the batch sends nothing
more. An action that timed out is checked on the network (does the like exist, is the follow there)
before it is ever sent again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from prefect import task
from prefect.artifacts import acreate_progress_artifact
from prefect.runtime import task_run

from connectors.growth.base import Network, NetworkError
from core.progress import share
from core.retry import backoff_delay
from core.settings import JobLogic, get_settings
from db.base import utcnow
from db.claims import Lease
from db.engine import session_factory
from db.growth import actions as growth_actions
from db.growth import jobs as growth_jobs
from db.growth.accounts import account_settings
from db.growth.actions import ActionItem, ActionOutcome, Result, Turn
from db.growth.config import job_logic
from db.growth.jobs import ClaimedJob
from db.growth.models import Account
from rules.growth import Action, ErrorKind, JobKind, JobStatus
from tasks.artifacts import report
from tasks.batch import Batch, run_batch
from tasks.claims import run_lease
from tasks.growth_network import account_login, account_network

MAX_BACKOFF = 300.0
RECHECK_AFTER = 1.0  # seconds of waiting for a pacing slot after which the cheap check runs again
UNSURE = (ErrorKind.UNKNOWN_OUTCOME, ErrorKind.TRANSIENT)  # the action may have been applied


@dataclass(frozen=True)
class BatchResult:
    job_id: int
    claimed: int
    done: int = 0
    failed: int = 0
    unknown: int = 0
    deferred: int = 0
    status: JobStatus | None = None
    waiting_for: str | None = None
    decided: int = 0  # of the job's targets, after this batch
    targets: int = 0


class Stop:
    """Why the rest of a batch is not sent, and when the job may go on (None: when a person acts)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.wake_at: datetime | None = None

    def set(self, reason: str, wake_at: datetime | None) -> None:
        if self.reason is None:
            self.reason, self.wake_at = reason, wake_at


class Turns:
    """An account's turns for one batch: the full check (quotas, pacing) before every action when
    either applies, else the cheap check (job, state, block, hours) at most every ``gate_seconds``."""

    def __init__(self, account_id: int, lease: Lease) -> None:
        settings = get_settings().growth
        with session_factory().begin() as session:
            account_cfg = account_settings(session.get(Account, account_id))
        self._lease = lease
        self._quotas = settings.enforce_quotas
        self._paced = account_cfg.max_delay > 0
        self._every = settings.gate_seconds
        self._checked_at = 0.0
        self._last: Turn | None = None  # the last cheap check's answer
        self._one_check = asyncio.Lock()  # one cheap check in flight per batch: the others wait for it
        self._rng = random.Random()
        self._sessions = session_factory()

    def _take(self, item: ActionItem) -> Turn:
        if not (self._quotas or self._paced):
            return self._gate(item)
        with self._sessions.begin() as session:
            return growth_actions.take_turn(
                session, item=item, lease=self._lease, rng=self._rng, enforce_quotas=self._quotas
            )

    def _gate(self, item: ActionItem) -> Turn:
        with self._sessions.begin() as session:
            return growth_actions.gate(session, item=item, lease=self._lease)

    async def recheck(self, item: ActionItem) -> Turn:
        """The cheap check again, after waiting for a pacing slot (a person may have paused meanwhile)."""
        return await asyncio.to_thread(self._gate, item)

    async def next(self, item: ActionItem) -> Turn:
        if self._quotas or self._paced:
            return await asyncio.to_thread(self._take, item)
        # the cheap check is the account's and the job's, not the item's: the items in flight share
        # one (else every one of them started its own at each expiry); a refusal stays the answer
        async with self._one_check:
            loop = asyncio.get_running_loop()
            if self._last is None or loop.time() - self._checked_at >= self._every:
                self._last = await asyncio.to_thread(self._take, item)
                self._checked_at = loop.time()
            return self._last if self._last.refusal is not None else Turn(utcnow())


async def _applied(network: Network, item: ActionItem) -> bool:
    """Whether the network shows the action as done (the check before a retry)."""
    if item.action is Action.LIKE:
        return await network.has_liked(item.target)
    friendship = await network.friendship(item.user_id)
    if item.action is Action.FOLLOW:
        return friendship.follow_applied
    return not friendship.follow_applied


async def _send(network: Network, item: ActionItem) -> None:
    if item.action is Action.LIKE:
        await network.like(item.target)
    elif item.action is Action.FOLLOW:
        await network.follow(item.user_id)
    else:
        await network.unfollow(item.user_id)


async def _check(network: Network, item: ActionItem, detail: str) -> ActionOutcome | None:
    """An outcome nobody saw, asked of the network: done if it shows the action, unknown if the
    question failed too (asked again next time), None if it shows the action was not applied."""
    try:
        applied = await _applied(network, item)
    except NetworkError as error:
        return ActionOutcome(item, Result.UNKNOWN, f"{detail}; the check failed too: {error}")
    return ActionOutcome(item, Result.DONE) if applied else None


class Actor:
    """Works the items of one batch: turns, the call, and what a refusal means for the rest."""

    def __init__(
        self, network: Network, turns: Turns, stop: Stop, *, block_hours: float, throttle_retries: int
    ):
        self._network = network
        self._turns = turns
        self._stop = stop
        self._block_hours = block_hours
        self._throttle_retries = throttle_retries

    async def work(self, item: ActionItem) -> ActionOutcome:
        if self._stop.reason is not None:
            return ActionOutcome(item, Result.DEFERRED, self._stop.reason)
        turn = await self._turns.next(item)
        if turn.refusal is not None:
            self._stop.set(turn.refusal, turn.wake_at)
            return ActionOutcome(item, Result.DEFERRED, turn.refusal)
        wait = (turn.go_at - utcnow()).total_seconds() if turn.go_at else 0.0
        if wait > 0:
            await asyncio.sleep(wait)
            if wait > RECHECK_AFTER and (turn := await self._turns.recheck(item)).refusal is not None:
                self._stop.set(turn.refusal, turn.wake_at)
                return ActionOutcome(item, Result.DEFERRED, turn.refusal)
        if item.check_first:
            checked = await _check(self._network, item, "an earlier try's outcome is unknown")
            if checked is not None:
                return checked
        return await self._act(item)

    async def _act(self, item: ActionItem) -> ActionOutcome:
        throttled = 0
        while True:
            try:
                await _send(self._network, item)
                return ActionOutcome(item, Result.DONE)
            except NetworkError as error:
                if error.kind in UNSURE:
                    checked = await _check(self._network, item, str(error))
                    return checked or ActionOutcome(item, Result.UNKNOWN, str(error))
                if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.PERMANENT):
                    return ActionOutcome(item, Result.FAILED, str(error))
                if error.kind is ErrorKind.BLOCKED:
                    await asyncio.to_thread(self._freeze, item, str(error))
                    return ActionOutcome(item, Result.DEFERRED, f"{item.action} blocked")
                if error.kind is ErrorKind.CHALLENGE:
                    await asyncio.to_thread(self._challenged, item, str(error))
                    return ActionOutcome(item, Result.DEFERRED, "the account needs attention")
                delay = backoff_delay(throttled, base=5.0, cap=MAX_BACKOFF, retry_after=error.retry_after)
                throttled += 1
                if throttled > self._throttle_retries:
                    wake = utcnow() + timedelta(seconds=delay)
                    self._stop.set(f"throttled by the network (HTTP 429) {throttled} times in a row", wake)
                    return ActionOutcome(item, Result.DEFERRED, "throttled")
                await asyncio.sleep(delay)

    def _freeze(self, item: ActionItem, reason: str) -> None:
        with session_factory().begin() as session:
            until = growth_actions.freeze(
                session,
                account_id=item.account_id,
                action=item.action,
                hours=self._block_hours,
                reason=reason,
            )
        self._stop.set(f"{item.action} blocked until {until:%Y-%m-%d %H:%M} UTC", until)

    def _challenged(self, item: ActionItem, reason: str) -> None:
        with session_factory().begin() as session:
            growth_actions.needs_attention(session, account_id=item.account_id, reason=reason)
        self._stop.set("the account needs attention", None)


def batch_run_name() -> str:
    job: ClaimedJob = task_run.parameters["job"]
    if job.kind is JobKind.LIKE:
        return f"like {job.wanted} followers for @{job.username}, batch {job.batch_no}"
    return f"{job.kind} batch {job.batch_no} of job {job.id} (@{job.username})"


async def act(job: ClaimedJob, lease: Lease) -> BatchResult:
    """One batch of the held job's actions; the job goes back to the queue (or is processed) after."""
    settings = get_settings().growth
    sessions = session_factory()

    def read_logic() -> JobLogic:
        with sessions.begin() as session:
            return job_logic(session)

    logic = await asyncio.to_thread(read_logic)
    login = await asyncio.to_thread(account_login, job.account_id)
    turns = await asyncio.to_thread(Turns, job.account_id, lease)
    stop = Stop()

    def claim(_lease: Lease) -> list[ActionItem]:
        with sessions.begin() as session:
            return growth_actions.next_items(session, job_id=job.id, lease=lease, limit=logic.follow_batch)

    def record(outcomes: list[ActionOutcome]) -> None:
        with sessions.begin() as session:
            growth_actions.record_outcomes(session, outcomes=outcomes)

    def renew(_lease: Lease, ids: Sequence[int]) -> set[int]:
        with sessions.begin() as session:
            return set(ids) if growth_jobs.renew_job(session, job_id=job.id, lease=lease) else set()

    async with account_network(login) as network:
        actor = Actor(
            network, turns, stop, block_hours=logic.block_hours, throttle_retries=logic.throttle_retries
        )
        claimed, outcomes = await run_batch(
            Batch(
                claim=claim,
                work=actor.work,
                record=record,
                renew=renew,
                item_id=lambda item: item.target_id,
                outcome_id=lambda outcome: outcome.item.target_id,
                crashed=lambda item, error: ActionOutcome(item, Result.UNKNOWN, error),
            ),
            lease_seconds=lease.seconds,
            concurrency=settings.action_concurrency,
            group_size=max(1, settings.action_concurrency),
            lease=lease,
        )

    def end() -> tuple[JobStatus | None, tuple[int, int]]:
        with sessions.begin() as session:
            status = growth_jobs.end_batch(
                session, job_id=job.id, lease=lease, wake_at=stop.wake_at, waiting_for=stop.reason
            )
            return status, growth_jobs.progress(session, job_id=job.id)

    status, (decided, targets) = await asyncio.to_thread(end)
    counts = {result: sum(1 for o in outcomes if o.result is result) for result in Result}
    return BatchResult(
        job_id=job.id,
        claimed=claimed,
        done=counts[Result.DONE],
        failed=counts[Result.FAILED],
        unknown=counts[Result.UNKNOWN],
        deferred=counts[Result.DEFERRED],
        status=status,
        waiting_for=stop.reason,
        decided=decided,
        targets=targets,
    )


@task(task_run_name=batch_run_name)
async def act_on_job(job: ClaimedJob, lease: Lease) -> BatchResult:
    """One batch of actions of one claimed job."""
    result = await act(job, lease)
    await report(_publish(job, result), "progress artifact")
    return result


async def _publish(job: ClaimedJob, result: BatchResult) -> None:
    """The job's progress after this batch, as a progress artifact of the batch's task run."""
    await acreate_progress_artifact(
        progress=100.0 * share(result.decided, result.targets),
        description=(
            f"{job.kind} job {job.id} (@{job.username}), batch {job.batch_no}: {result.done} done, "
            f"{result.failed} failed, {result.unknown} unknown, {result.deferred} put back"
            + (f" ({result.waiting_for})" if result.waiting_for else "")
            + f"; {result.decided} of {result.targets} targets decided"
        ),
    )


def claim_for_acting(kind: JobKind) -> tuple[ClaimedJob, Lease] | None:
    """Claim the next job of ``kind`` with actions to do, with a fresh lease."""
    lease = run_lease(get_settings().growth.lease_seconds)
    with session_factory().begin() as session:
        job = growth_jobs.claim_job(session, kind=kind, stage=JobStatus.FOLLOWS, lease=lease)
    return (job, lease) if job else None
