"""Growth jobs: creating them, their candidates, their claims and every change of their status.

A job goes ``added`` → ``processing`` (claimed while its candidates are collected) → ``follows``
(claimed one batch at a time while it acts) → ``processed``; or ``failed`` with the reason, or
``paused`` by a person. ``transition`` here owns every status change, through the kit's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from db import jobs as kit
from db.base import upsert_insert, utcnow
from db.claims import Lease
from db.growth.graph import FOLLOWER, FOLLOWING, current_edges
from db.growth.models import Account, ActionRecord, Edge, Job, Target
from rules.growth import (
    OPEN_JOB_STATUSES,
    AccountSettings,
    AccountState,
    Action,
    ActionStatus,
    FollowSource,
    JobKind,
    JobStatus,
    TargetStatus,
    unfollow_reason,
)

WORKING = (JobStatus.PROCESSING, JobStatus.FOLLOWS)
TERMINAL = (JobStatus.PROCESSED, JobStatus.FAILED)
SWITCH = {
    JobKind.LIKE: Account.likes_on,
    JobKind.FOLLOW: Account.follows_on,
    JobKind.UNFOLLOW: Account.unfollows_on,
}


@dataclass(frozen=True)
class ClaimedJob:
    """A job one run holds: what its work needs."""

    id: int
    account_id: int
    username: str
    kind: JobKind
    source: FollowSource | None
    target: str | None
    wanted: int
    batch_no: int  # the batch this claim works (1 for the first)


@dataclass(frozen=True)
class NewTarget:
    """A candidate found while a job is planned; ``reason`` set: skipped, with why."""

    target: str
    user_id: str
    username: str
    reason: str | None = None


def transition(
    session: Session,
    *,
    job_ids: Sequence[int],
    to: JobStatus,
    from_: Sequence[JobStatus],
    now: datetime | None = None,
    **values: object,
) -> int:
    """Move jobs from one of ``from_`` to ``to``; a terminal status stamps the end and drops the claim."""
    return kit.transition(
        session,
        Job,
        where=Job.id.in_(list(job_ids)),
        to=to,
        from_=from_,
        terminal=to in TERMINAL,
        now=now or utcnow(),
        **values,
    )


def create_job(
    session: Session,
    *,
    account_id: int,
    kind: JobKind,
    wanted: int,
    source: FollowSource | None = None,
    target: str | None = None,
) -> Job:
    job = Job(account_id=account_id, kind=kind, wanted=wanted, source=source, target=target)
    session.add(job)
    session.flush()
    return job


def open_like_jobs(
    session: Session, *, wanted: int, every_minutes: int, now: datetime | None = None
) -> list[int]:
    """A like job for every active account with likes on, no open like job and none created in the
    last ``every_minutes``; returns the new jobs' ids."""
    now = now or utcnow()
    account_ids = list(session.scalars(_due_like_job(every_minutes, now)))
    if not account_ids:
        return []
    rows = [
        {
            "account_id": a,
            "kind": JobKind.LIKE,
            "wanted": wanted,
            "status": JobStatus.ADDED,
            "created_at": now,
            "attempts": 0,
            "done": 0,
            "skipped": 0,
            "failed": 0,
            "batches": 0,
        }
        for a in account_ids
    ]
    return list(session.scalars(insert(Job).returning(Job.id), rows))


def _due_like_job(every_minutes: int, now: datetime) -> Select[tuple[int]]:
    """The ids of the active accounts with likes on, no open like job and none in ``every_minutes``."""
    busy = exists().where(
        Job.account_id == Account.id,
        Job.kind == JobKind.LIKE,
        or_(Job.status.in_(list(OPEN_JOB_STATUSES)), Job.created_at > now - timedelta(minutes=every_minutes)),
    )
    return select(Account.id).where(Account.state == AccountState.ACTIVE, Account.likes_on.is_(True), ~busy)


def like_job_due(session: Session, *, every_minutes: int, now: datetime) -> bool:
    """Whether `open_like_jobs` would open a job at ``now``."""
    return bool(session.scalar(select(exists(_due_like_job(every_minutes, now)))))


def any_claimable(session: Session, *, kind: JobKind, stage: JobStatus, now: datetime) -> bool:
    """Whether `claim_job` would find a job of ``kind`` for ``stage`` at ``now``, or a job's claim has
    lapsed (`fail_abandoned` may have work)."""
    waiting = stage if stage is JobStatus.FOLLOWS else JobStatus.ADDED
    condition = or_(_claimable(kind, waiting, now), kit.lease_lapsed(Job, WORKING, now))
    if stage is not JobStatus.FOLLOWS:
        condition = or_(condition, _claimable(kind, JobStatus.PROCESSING, now))
    return bool(session.scalar(select(exists().where(condition))))


def unfollows_possible(session: Session) -> bool:
    """Whether an active account has unfollows on (`open_unfollow_jobs` may find someone to unfollow)."""
    return bool(
        session.scalar(
            select(exists().where(Account.state == AccountState.ACTIVE, Account.unfollows_on.is_(True)))
        )
    )


def _claimable(kind: JobKind, status: JobStatus, now: datetime) -> object:
    """Jobs of ``kind`` in ``status`` nobody holds (or whose holder's lease ran out), awake, whose
    account is active with the kind's switch on."""
    return and_(
        Job.kind == kind,
        Job.status == status,
        or_(Job.claimed_until.is_(None), Job.claimed_until < now),
        or_(Job.wake_at.is_(None), Job.wake_at <= now),
        Job.account_id.in_(
            select(Account.id).where(Account.state == AccountState.ACTIVE, SWITCH[kind].is_(True))
        ),
    )


def claim_job(
    session: Session, *, kind: JobKind, stage: JobStatus, lease: Lease, now: datetime | None = None
) -> ClaimedJob | None:
    """Claim one job of ``kind`` waiting in ``stage`` (``added`` to plan it, ``follows`` for a batch
    of actions), the oldest first. Planning moves it to ``processing``; a batch keeps ``follows``."""
    now = now or utcnow()
    waiting = stage if stage is JobStatus.FOLLOWS else JobStatus.ADDED
    claimable = _claimable(kind, waiting, now)
    if stage is not JobStatus.FOLLOWS:  # a planning run that got lost left its job in processing
        claimable = or_(claimable, _claimable(kind, JobStatus.PROCESSING, now))
    working = JobStatus.FOLLOWS if stage is JobStatus.FOLLOWS else JobStatus.PROCESSING
    ids = kit.claim(session, Job, claimable=claimable, working=working, lease=lease, limit=1, now=now)
    if not ids:
        return None
    job, username = session.execute(
        select(Job, Account.username).join(Account, Account.id == Job.account_id).where(Job.id == ids[0])
    ).one()
    return ClaimedJob(
        id=job.id,
        account_id=job.account_id,
        username=username,
        kind=job.kind,
        source=job.source,
        target=job.target,
        wanted=job.wanted,
        batch_no=job.batches + 1,
    )


def held(job_id: int, lease: Lease) -> object:
    return and_(Job.id == job_id, Job.claimed_by == lease.owner, Job.status.in_(list(WORKING)))


def renew_job(session: Session, *, job_id: int, lease: Lease, now: datetime | None = None) -> bool:
    """Extend the lease on a job this run still holds; False if it lost it (paused, re-claimed)."""
    now = now or utcnow()
    moved = session.execute(
        update(Job)
        .where(held(job_id, lease))
        .values(claimed_until=lease.until(now))
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(moved)


def add_targets(
    session: Session, *, job_id: int, targets: Sequence[NewTarget], now: datetime | None = None
) -> int:
    """Store a job's candidates after those it has (a target it has already is ignored); skipped ones
    keep their reason. Returns how many of them are to act on."""
    if not targets:
        return 0
    now = now or utcnow()
    start = session.scalar(select(func.coalesce(func.max(Target.position), 0)).where(Target.job_id == job_id))
    rows = [
        {
            "job_id": job_id,
            "position": start + number,
            "target": t.target,
            "user_id": t.user_id,
            "username": t.username,
            "status": TargetStatus.SKIPPED if t.reason else TargetStatus.PENDING,
            "reason": t.reason,
            "decided_at": now if t.reason else None,
            "tries": 0,
        }
        for number, t in enumerate(targets, 1)
    ]
    added = session.scalars(
        upsert_insert(session, Target)
        .on_conflict_do_nothing(index_elements=["job_id", "target"])
        .returning(Target.status),
        rows,
    ).all()
    skipped = sum(1 for status in added if status is TargetStatus.SKIPPED)
    if skipped:
        session.execute(update(Job).where(Job.id == job_id).values(skipped=Job.skipped + skipped))
    return len(added) - skipped


def count_targets(session: Session, *, job_id: int, statuses: Sequence[TargetStatus]) -> int:
    return (
        session.scalar(select(func.count()).where(Target.job_id == job_id, Target.status.in_(list(statuses))))
        or 0
    )


def progress(session: Session, *, job_id: int) -> tuple[int, int]:
    """(targets decided, all targets) of a job."""
    rows = dict(
        session.execute(
            select(Target.status, func.count()).where(Target.job_id == job_id).group_by(Target.status)
        )
        .tuples()
        .all()
    )
    open_ = rows.get(TargetStatus.PENDING, 0) + rows.get(TargetStatus.ACTING, 0)
    total = sum(rows.values())
    return total - open_, total


def job_targets(session: Session, *, job_id: int) -> set[str]:
    return set(session.scalars(select(Target.target).where(Target.job_id == job_id)))


def start_acting(session: Session, *, job_id: int, lease: Lease, now: datetime | None = None) -> JobStatus:
    """End a job's planning: on to ``follows`` with its candidates, or ``processed`` if it found none
    (``failed`` if it found nobody at all). The claim is released either way."""
    now = now or utcnow()
    if count_targets(session, job_id=job_id, statuses=[TargetStatus.PENDING]):
        transition(
            session,
            job_ids=[job_id],
            to=JobStatus.FOLLOWS,
            from_=[JobStatus.PROCESSING],
            now=now,
            claimed_until=None,
            claimed_by=None,
            attempts=0,
        )
        return JobStatus.FOLLOWS
    if count_targets(session, job_id=job_id, statuses=list(TargetStatus)):
        transition(session, job_ids=[job_id], to=JobStatus.PROCESSED, from_=[JobStatus.PROCESSING], now=now)
        return JobStatus.PROCESSED
    fail(session, job_id=job_id, error="no candidates found", now=now)
    return JobStatus.FAILED


def fail(session: Session, *, job_id: int, error: str, now: datetime | None = None) -> bool:
    """Fail a job that cannot go on (a target that does not exist, nobody to act on, …)."""
    return bool(
        transition(
            session, job_ids=[job_id], to=JobStatus.FAILED, from_=OPEN_JOB_STATUSES, now=now, last_error=error
        )
    )


def sleep_job(
    session: Session,
    *,
    job_id: int,
    lease: Lease,
    wake_at: datetime,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """Release a held job until ``wake_at`` (planning could not go on yet: a block, a 429, …)."""
    now = now or utcnow()
    moved = session.execute(
        update(Job)
        .where(held(job_id, lease))
        .values(claimed_until=None, claimed_by=None, wake_at=wake_at, waiting_for=reason, attempts=0)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(moved)


def end_batch(
    session: Session,
    *,
    job_id: int,
    lease: Lease,
    wake_at: datetime | None,
    waiting_for: str | None,
    now: datetime | None = None,
) -> JobStatus | None:
    """After a batch: ``processed`` when nothing is left to act on, else back to the queue (asleep
    until ``wake_at`` if given). None if this run no longer held the job."""
    now = now or utcnow()
    left = count_targets(session, job_id=job_id, statuses=[TargetStatus.PENDING, TargetStatus.ACTING])
    values: dict[str, object] = {"batches": Job.batches + 1, "attempts": 0}
    if not left:
        moved = kit.transition(
            session,
            Job,
            where=held(job_id, lease),
            to=JobStatus.PROCESSED,
            from_=[JobStatus.FOLLOWS],
            terminal=True,
            now=now,
            waiting_for=None,
            wake_at=None,
            **values,
        )
        return JobStatus.PROCESSED if moved else None
    moved = session.execute(
        update(Job)
        .where(held(job_id, lease))
        .values(claimed_until=None, claimed_by=None, wake_at=wake_at, waiting_for=waiting_for, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return JobStatus.FOLLOWS if moved else None


def pause_job(session: Session, *, job_id: int, now: datetime | None = None) -> bool:
    """Pause an open job: a batch working on it stops before its next action (its claim is gone)."""
    return bool(
        transition(
            session,
            job_ids=[job_id],
            to=JobStatus.PAUSED,
            from_=[JobStatus.ADDED, JobStatus.PROCESSING, JobStatus.FOLLOWS],
            now=now,
            claimed_until=None,
            claimed_by=None,
        )
    )


def resume_job(session: Session, *, job_id: int, now: datetime | None = None) -> bool:
    """Resume a paused job where it was: acting if it has candidates, else planning again."""
    has_targets = count_targets(session, job_id=job_id, statuses=list(TargetStatus)) > 0
    to = JobStatus.FOLLOWS if has_targets else JobStatus.ADDED
    return bool(
        transition(
            session,
            job_ids=[job_id],
            to=to,
            from_=[JobStatus.PAUSED],
            now=now,
            wake_at=None,
            waiting_for=None,
        )
    )


def fail_abandoned(session: Session, *, max_attempts: int, now: datetime | None = None) -> int:
    """Fail jobs whose runs got lost ``max_attempts`` times in a row (a clean batch resets the count)."""
    return kit.fail_abandoned(
        session,
        Job,
        working=WORKING,
        failed=JobStatus.FAILED,
        max_attempts=max_attempts,
        error=f"its runs were lost {max_attempts} times in a row",
        now=now,
    )


def open_job(session: Session, *, account_id: int, kind: JobKind) -> int | None:
    """The id of the account's open job of ``kind``, if any."""
    return session.scalar(
        select(Job.id).where(
            Job.account_id == account_id, Job.kind == kind, Job.status.in_(list(OPEN_JOB_STATUSES))
        )
    )


def unfollow_targets(
    session: Session, *, account_id: int, settings: AccountSettings, limit: int, now: datetime | None = None
) -> list[NewTarget]:
    """Users to unfollow now under the account's policy: only users it followed through Switchyard
    (done follows in the log) that it still follows and has not unfollowed, never the whitelist."""
    now = now or utcnow()
    unfollowed = select(ActionRecord.target).where(
        ActionRecord.account_id == account_id, ActionRecord.action == Action.UNFOLLOW
    )
    still_following = select(Edge.user_id).where(
        Edge.account_id == account_id, Edge.kind == FOLLOWING, Edge.removed_at.is_(None)
    )
    followed = session.execute(
        select(ActionRecord.user_id, ActionRecord.username, ActionRecord.done_at)
        .where(
            ActionRecord.account_id == account_id,
            ActionRecord.action == Action.FOLLOW,
            ActionRecord.status == ActionStatus.DONE,
            ActionRecord.done_at <= now - timedelta(days=settings.unfollow_after_days),
            ActionRecord.user_id.not_in(unfollowed),
            ActionRecord.user_id.in_(still_following),
        )
        .order_by(ActionRecord.done_at)
    ).all()
    follows_back = current_edges(
        session, account_id=account_id, kind=FOLLOWER, user_ids=[f.user_id for f in followed]
    )
    whitelist = set(settings.whitelist)
    chosen = []
    for user_id, username, done_at in followed:
        reason = unfollow_reason(
            followed_at=done_at,
            now=now,
            after_days=settings.unfollow_after_days,
            policy=settings.unfollow_policy,
            follows_back=user_id in follows_back,
            whitelisted=username in whitelist,
        )
        if reason is not None:
            chosen.append(NewTarget(target=user_id, user_id=user_id, username=username))
        if len(chosen) >= limit:
            break
    return chosen


def open_unfollow_jobs(session: Session, *, per_job: int, now: datetime | None = None) -> list[int]:
    """An unfollow job, ready to act, for every active account with unfollows on, no open unfollow
    job and someone to unfollow under its policy; returns the new jobs' ids."""
    now = now or utcnow()
    busy = exists().where(
        Job.account_id == Account.id, Job.kind == JobKind.UNFOLLOW, Job.status.in_(list(OPEN_JOB_STATUSES))
    )
    accounts = session.scalars(
        select(Account).where(Account.state == AccountState.ACTIVE, Account.unfollows_on.is_(True), ~busy)
    ).all()
    created = []
    for account in accounts:
        settings = AccountSettings.model_validate(account.settings)
        targets = unfollow_targets(session, account_id=account.id, settings=settings, limit=per_job, now=now)
        if not targets:
            continue
        job = create_job(session, account_id=account.id, kind=JobKind.UNFOLLOW, wanted=len(targets))
        add_targets(session, job_id=job.id, targets=targets, now=now)
        transition(session, job_ids=[job.id], to=JobStatus.FOLLOWS, from_=[JobStatus.ADDED], now=now)
        created.append(job.id)
    return created
