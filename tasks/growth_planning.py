"""Planning growth jobs: finding a job's candidates on the network and sorting out whom to skip.

A like job takes followers of its account (known from the last sync) and queues their recent posts;
a follow job collects users from its source (a target account's followers, a hashtag's or a
location's recent posts); each candidate's profile is checked against the account's skip rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.runtime import task_run
from sqlalchemy import select

from connectors.growth.base import Network, NetworkError
from core.settings import JobLogic, get_settings
from db.base import utcnow
from db.claims import Lease
from db.engine import session_factory
from db.growth import graph
from db.growth import jobs as growth_jobs
from db.growth.accounts import account_settings, notify
from db.growth.actions import needs_attention
from db.growth.config import job_logic
from db.growth.jobs import ClaimedJob, NewTarget
from db.growth.models import Account, ActionRecord
from rules.growth import (
    AccountSettings,
    AccountState,
    ActionStatus,
    ErrorKind,
    FollowSource,
    JobKind,
    JobStatus,
    Profile,
    UserRef,
    skip_reason,
)
from tasks.batch import keep_alive
from tasks.claims import run_lease
from tasks.growth_network import CallsSpent, account_login, account_network, read

PROFILE_MAX_AGE = timedelta(days=7)  # a profile fetched since then is not fetched again
LOOKS_PER_WANTED = 3  # profiles checked at most per candidate wanted
SOURCE_POSTS = 50  # recent posts read from a hashtag or location
PROFILES_AT_ONCE = 8  # profile reads of one planning in flight at once
RETRY_LATER = timedelta(minutes=5)
FIRST_SYNC_WAIT = timedelta(minutes=1)


@dataclass(frozen=True)
class PlanResult:
    job_id: int
    status: JobStatus | None
    candidates: int
    skipped: int
    error: str | None = None


@dataclass(frozen=True)
class _Context:
    """What a planning needs to know about its account, read once."""

    account_id: int
    user_id: str
    settings: AccountSettings
    logic: JobLogic
    excluded: set[str]  # users never to take as candidates: the account, recent ones, followed ones
    synced: bool  # its followers are known (a like job needs them)


def _context(job: ClaimedJob) -> _Context:
    with session_factory().begin() as session:
        account = session.get(Account, job.account_id)
        settings = account_settings(account)
        since = utcnow() - timedelta(days=settings.recent_days)
        recent = set(
            session.scalars(
                select(ActionRecord.user_id).where(
                    ActionRecord.account_id == account.id,
                    ActionRecord.status == ActionStatus.DONE,
                    ActionRecord.done_at > since,
                )
            )
        )
        return _Context(
            account.id,
            account.user_id,
            settings,
            job_logic(session),
            recent | {account.user_id},
            synced=account.last_synced_at is not None,
        )


async def _profiles(network: Network, context: _Context, users: list[UserRef]) -> dict[str, Profile]:
    """Profiles of ``users``: recent stored ones, the rest fetched (and stored)."""

    def known() -> dict[str, Profile]:
        with session_factory().begin() as session:
            return graph.known_profiles(
                session, user_ids=[u.user_id for u in users], fetched_since=utcnow() - PROFILE_MAX_AGE
            )

    profiles = await asyncio.to_thread(known)
    slots = asyncio.Semaphore(PROFILES_AT_ONCE)

    async def fetch(user: UserRef) -> Profile | None:
        async with slots:
            try:
                return await read(context.account_id, lambda: network.profile_by_id(user.user_id))
            except NetworkError as error:
                if error.kind is not ErrorKind.NOT_FOUND:
                    raise
                return None  # gone meanwhile: not a candidate

    wanted = [user for user in users if user.user_id not in profiles]
    fetched = [profile for profile in await asyncio.gather(*map(fetch, wanted)) if profile is not None]
    profiles |= {profile.user_id: profile for profile in fetched}

    def store() -> None:
        with session_factory().begin() as session:
            graph.store_profiles(session, profiles=fetched, now=utcnow())

    if fetched:
        await asyncio.to_thread(store)
    return profiles


def _skip(profile: Profile | None, context: _Context) -> str | None:
    if profile is None:
        return "not found"
    if profile.username in context.settings.blacklist:
        return "blacklisted"
    return skip_reason(profile, context.settings.skip)


async def _candidates(network: Network, job: ClaimedJob, context: _Context) -> AsyncIterator[list[UserRef]]:
    """Users from the job's source, a page at a time."""
    if job.kind is JobKind.LIKE:

        def followers() -> list[UserRef]:
            with session_factory().begin() as session:
                return graph.sample_followers(
                    session,
                    account_id=job.account_id,
                    limit=job.wanted * LOOKS_PER_WANTED,
                    exclude=context.excluded,
                )

        yield await asyncio.to_thread(followers)
        return
    if job.source is FollowSource.ACCOUNT:
        target = await read(context.account_id, lambda: network.profile(job.target or ""))
        cursor: str | None = None
        while True:
            page = await read(
                context.account_id, lambda cursor=cursor: network.followers(target.user_id, cursor)
            )
            yield page.items
            cursor = page.next_cursor
            if cursor is None:
                return
    elif job.source is FollowSource.HASHTAG:
        posts = await read(context.account_id, lambda: network.hashtag_posts(job.target or "", SOURCE_POSTS))
        yield [post.owner for post in posts]
    else:
        posts = await read(context.account_id, lambda: network.location_posts(job.target or "", SOURCE_POSTS))
        yield [post.owner for post in posts]


async def _like_targets(network: Network, context: _Context, profile: Profile) -> list[NewTarget]:
    """The follower's recent posts not liked yet, as targets."""
    posts = await read(
        context.account_id, lambda: network.user_posts(profile.user_id, context.logic.likes_per_follower)
    )
    return [
        NewTarget(post.post_id, profile.user_id, profile.username) for post in posts if not post.has_liked
    ]


async def plan(job: ClaimedJob, lease: Lease) -> PlanResult:
    """Collect the job's candidates and move it on to acting; a failure is stored, never raised."""
    context = await asyncio.to_thread(_context, job)
    if job.kind is JobKind.LIKE and not context.synced:
        wake = (utcnow() + FIRST_SYNC_WAIT).timestamp()
        return await asyncio.to_thread(_sleep, job, lease, "waiting for the account's first sync", wake)
    login = await asyncio.to_thread(account_login, job.account_id)
    wanted = job.wanted
    accepted = skipped = looked = 0
    found: set[str] = set()

    def store(targets: list[NewTarget]) -> None:
        with session_factory().begin() as session:
            growth_jobs.add_targets(session, job_id=job.id, targets=targets)

    def renew() -> bool:
        with session_factory().begin() as session:
            return growth_jobs.renew_job(session, job_id=job.id, lease=lease)

    try:
        async with account_network(login) as network, keep_alive(renew, every=lease.seconds / 3):
            async for users in _candidates(network, job, context):
                users = [u for u in users if u.user_id not in context.excluded and u.user_id not in found]
                if job.kind is JobKind.FOLLOW:
                    users = await asyncio.to_thread(_not_followed, job.account_id, users)
                users = users[: max(0, wanted * LOOKS_PER_WANTED - looked)]
                looked += len(users)
                found.update(u.user_id for u in users)
                profiles = await _profiles(network, context, users)
                targets: list[NewTarget] = []
                for user in users:
                    if accepted >= wanted:
                        break
                    reason = _skip(profiles.get(user.user_id), context)
                    if reason is None and job.kind is JobKind.LIKE:
                        likes = await _like_targets(network, context, profiles[user.user_id])
                        reason = None if likes else "no posts to like"
                        targets += likes
                    elif reason is None:
                        targets.append(NewTarget(user.user_id, user.user_id, user.username))
                    if reason is None:
                        accepted += 1
                    else:
                        skipped += 1
                        targets.append(NewTarget(user.user_id, user.user_id, user.username, reason))
                await asyncio.to_thread(store, targets)
                if accepted >= wanted or looked >= wanted * LOOKS_PER_WANTED:
                    break
    except NetworkError as error:
        return await asyncio.to_thread(_planning_failed, job, lease, error)
    except CallsSpent as spent:
        return await asyncio.to_thread(_sleep, job, lease, "calls quota spent", spent.retry_at)

    def finish() -> JobStatus:
        with session_factory().begin() as session:
            return growth_jobs.start_acting(session, job_id=job.id, lease=lease)

    status = await asyncio.to_thread(finish)
    return PlanResult(job.id, status, accepted, skipped)


def _not_followed(account_id: int, users: list[UserRef]) -> list[UserRef]:
    with session_factory().begin() as session:
        following = graph.current_edges(
            session, account_id=account_id, kind=graph.FOLLOWING, user_ids=[u.user_id for u in users]
        )
    return [u for u in users if u.user_id not in following]


def _sleep(job: ClaimedJob, lease: Lease, reason: str, until: float) -> PlanResult:
    with session_factory().begin() as session:
        growth_jobs.sleep_job(
            session, job_id=job.id, lease=lease, wake_at=datetime.fromtimestamp(until, UTC), reason=reason
        )
    return PlanResult(job.id, JobStatus.PROCESSING, 0, 0, reason)


def _planning_failed(job: ClaimedJob, lease: Lease, error: NetworkError) -> PlanResult:
    """A target that does not exist or cannot be read fails the job; a challenge pauses the account;
    anything passing (5xx, 429, a block) puts the job back for a later run."""
    now = utcnow()
    with session_factory().begin() as session:
        if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.PERMANENT):
            reason = f"{job.source or job.kind} {job.target or ''}: {error}".strip()
            growth_jobs.fail(session, job_id=job.id, error=reason, now=now)
            notify(session, account_id=job.account_id, level="warning", text=f"job {job.id} failed: {reason}")
            return PlanResult(job.id, JobStatus.FAILED, 0, 0, reason)
        if error.kind is ErrorKind.CHALLENGE:
            needs_attention(session, account_id=job.account_id, reason=str(error))
        wake = now + timedelta(seconds=error.retry_after) if error.retry_after else now + RETRY_LATER
        growth_jobs.sleep_job(session, job_id=job.id, lease=lease, wake_at=wake, reason=str(error), now=now)
    return PlanResult(job.id, JobStatus.PROCESSING, 0, 0, str(error))


def _plan_run_name() -> str:
    job: ClaimedJob = task_run.parameters["job"]
    what = f"posts of {job.wanted} followers" if job.kind is JobKind.LIKE else f"{job.source} {job.target}"
    return f"plan job {job.id} for @{job.username}: {what}"


@task(task_run_name=_plan_run_name)
async def plan_job(job: ClaimedJob, lease: Lease) -> PlanResult:
    """Find the candidates of one claimed job."""
    return await plan(job, lease)


def claim_for_planning(kind: JobKind) -> tuple[ClaimedJob, Lease] | None:
    """Claim the next job of ``kind`` waiting to be planned, with a fresh lease."""
    lease = run_lease(get_settings().growth.lease_seconds)
    with session_factory().begin() as session:
        job = growth_jobs.claim_job(session, kind=kind, stage=JobStatus.ADDED, lease=lease)
    return (job, lease) if job else None


@task(task_run_name="open like jobs")
def open_like_jobs() -> list[int]:
    """A like job for each account due one (likes on, none open, the interval passed)."""
    with session_factory().begin() as session:
        logic = job_logic(session)
        return growth_jobs.open_like_jobs(
            session, wanted=logic.followers_per_like_job, every_minutes=logic.like_every_minutes
        )


@task(task_run_name="open unfollow jobs")
def open_unfollow_jobs() -> list[int]:
    """An unfollow job for each account with someone to unfollow under its policy."""
    with session_factory().begin() as session:
        return growth_jobs.open_unfollow_jobs(session, per_job=job_logic(session).unfollows_per_job)


@task(task_run_name="fail abandoned growth jobs")
def fail_abandoned_jobs() -> int:
    """Fail jobs whose runs keep getting lost."""
    with session_factory().begin() as session:
        return growth_jobs.fail_abandoned(session, max_attempts=get_settings().growth.max_attempts)


@task(task_run_name="accounts to sync")
def accounts_to_sync() -> list[int]:
    """Every connected account that is not waiting for a person."""
    with session_factory().begin() as session:
        return list(
            session.scalars(
                select(Account.id).where(Account.state != AccountState.NEEDS_ATTENTION).order_by(Account.id)
            )
        )
