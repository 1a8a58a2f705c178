"""What the dashboard and the CLI show of growth automation: accounts, jobs and their candidates,
skips by reason, actions per day against the quotas, followers over time, blocks and quota use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.pacing import Window
from db.base import utcnow
from db.growth.accounts import account_settings
from db.growth.actions import limit_key
from db.growth.models import Account, AccountDetails, Cooldown, DailyStat, FollowerCount, Job, Target
from db.limits import used_now
from rules.growth import (
    CALLS,
    DAY,
    HOUR,
    OPEN_JOB_STATUSES,
    AccountState,
    Action,
    JobKind,
    JobStatus,
    TargetStatus,
)


@dataclass(frozen=True)
class Block:
    action: Action
    until: datetime
    reason: str


@dataclass(frozen=True)
class AccountSummary:
    id: int
    owner: str
    username: str
    state: AccountState
    state_reason: str | None
    likes_on: bool
    follows_on: bool
    unfollows_on: bool
    timezone: str
    followers: int | None
    followings: int | None
    posts: int | None
    last_synced_at: datetime | None
    last_sync_error: str | None
    open_jobs: int
    blocks: list[Block]


@dataclass(frozen=True)
class JobSummary:
    id: int
    account: str
    kind: JobKind
    source: str | None
    target: str | None
    status: JobStatus
    wanted: int
    done: int
    skipped: int
    failed: int
    batches: int
    pending: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None
    waiting_for: str | None
    attempts: int
    last_error: str | None

    @property
    def description(self) -> str:
        if self.kind is JobKind.FOLLOW:
            return f"follow {self.wanted} from {self.source} {self.target}"
        if self.kind is JobKind.LIKE:
            return f"like posts of {self.wanted} followers"
        return f"unfollow {self.wanted}"


@dataclass(frozen=True)
class QuotaUse:
    """Uses counted in the current hour and day windows of one action, against the limits."""

    action: str
    hour_used: int
    hour_limit: int
    day_used: int
    day_limit: int


def accounts(
    session: Session,
    *,
    owner: str | None = None,
    account_ids: list[int] | None = None,
    now: datetime | None = None,
) -> list[AccountSummary]:
    """Every connected account (of ``owner``), with its profile counts, open jobs and blocks."""
    now = now or utcnow()
    query = select(Account, AccountDetails).outerjoin(AccountDetails, AccountDetails.account_id == Account.id)
    if owner:
        query = query.where(Account.owner == owner)
    if account_ids is not None:
        query = query.where(Account.id.in_(account_ids))
    open_jobs = dict(
        session.execute(
            select(Job.account_id, func.count())
            .where(Job.status.in_(list(OPEN_JOB_STATUSES)))
            .group_by(Job.account_id)
        )
        .tuples()
        .all()
    )
    blocks: dict[int, list[Block]] = {}
    for cooldown in session.scalars(select(Cooldown).where(Cooldown.until > now).order_by(Cooldown.until)):
        blocks.setdefault(cooldown.account_id, []).append(
            Block(cooldown.action, cooldown.until, cooldown.reason)
        )
    return [
        AccountSummary(
            id=account.id,
            owner=account.owner,
            username=account.username,
            state=account.state,
            state_reason=account.state_reason,
            likes_on=account.likes_on,
            follows_on=account.follows_on,
            unfollows_on=account.unfollows_on,
            timezone=account.timezone,
            followers=details.followers if details else None,
            followings=details.followings if details else None,
            posts=details.posts if details else None,
            last_synced_at=account.last_synced_at,
            last_sync_error=account.last_sync_error,
            open_jobs=open_jobs.get(account.id, 0),
            blocks=blocks.get(account.id, []),
        )
        for account, details in session.execute(query.order_by(Account.username))
    ]


def jobs(
    session: Session,
    *,
    account_id: int | None = None,
    open_only: bool = False,
    status: JobStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[JobSummary]:
    """Jobs, newest first, with how many candidates each has still to act on."""
    pending = (
        select(func.count())
        .where(Target.job_id == Job.id, Target.status.in_([TargetStatus.PENDING, TargetStatus.ACTING]))
        .scalar_subquery()
    )
    query = select(Job, Account.username, pending).join(Account, Account.id == Job.account_id)
    query = query.where(*_job_filter(account_id, open_only, status))
    rows = session.execute(query.order_by(Job.id.desc()).limit(limit).offset(offset))
    return [
        JobSummary(
            id=job.id,
            account=username,
            kind=job.kind,
            source=job.source.value if job.source else None,
            target=job.target,
            status=job.status,
            wanted=job.wanted,
            done=job.done,
            skipped=job.skipped,
            failed=job.failed,
            batches=job.batches,
            pending=left or 0,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            wake_at=job.wake_at,
            waiting_for=job.waiting_for,
            attempts=job.attempts,
            last_error=job.last_error,
        )
        for job, username, left in rows
    ]


def count_jobs(
    session: Session,
    *,
    account_id: int | None = None,
    open_only: bool = False,
    status: JobStatus | None = None,
) -> int:
    """How many jobs ``jobs`` would give with these filters and no limit."""
    query = select(func.count()).select_from(Job)
    return session.scalar(query.where(*_job_filter(account_id, open_only, status))) or 0


def _job_filter(
    account_id: int | None, open_only: bool, status: JobStatus | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if account_id is not None:
        conditions.append(Job.account_id == account_id)
    if open_only:
        conditions.append(Job.status.in_(list(OPEN_JOB_STATUSES)))
    if status is not None:
        conditions.append(Job.status == status)
    return conditions


def job_targets(
    session: Session, *, job_id: int, status: TargetStatus | None = None, limit: int = 500
) -> list[Target]:
    """A job's candidates in order (only those in ``status`` if given)."""
    query = select(Target).where(Target.job_id == job_id)
    if status is not None:
        query = query.where(Target.status == status)
    return list(session.scalars(query.order_by(Target.position).limit(limit)))


def skip_reasons(session: Session, *, account_id: int, since: datetime | None = None) -> dict[str, int]:
    """How many candidates of the account's jobs were skipped, by reason, most first."""
    query = (
        select(Target.reason, func.count())
        .join(Job, Job.id == Target.job_id)
        .where(Job.account_id == account_id, Target.status == TargetStatus.SKIPPED)
        .group_by(Target.reason)
    )
    if since is not None:
        query = query.where(Target.decided_at >= since)
    counts = dict(session.execute(query).tuples().all())
    return dict(sorted(((reason or "", n) for reason, n in counts.items()), key=lambda item: -item[1]))


def actions_per_day(
    session: Session, *, account_id: int, days: int = 30, today: date | None = None
) -> list[DailyStat]:
    """The account's daily stats of the last ``days`` days, oldest first."""
    first = (today or utcnow().date()) - timedelta(days=days - 1)
    return list(
        session.scalars(
            select(DailyStat)
            .where(DailyStat.account_id == account_id, DailyStat.day >= first)
            .order_by(DailyStat.day, DailyStat.action)
        )
    )


def followers_over_time(session: Session, *, account_id: int, limit: int = 365) -> list[FollowerCount]:
    """The account's follower counts, one per sync, oldest first."""
    rows = session.scalars(
        select(FollowerCount)
        .where(FollowerCount.account_id == account_id)
        .order_by(FollowerCount.at.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def quota_use(session: Session, *, account_id: int, now: datetime | None = None) -> list[QuotaUse]:
    """Uses of each action (and of server calls) in the current hour and day, against the quotas."""
    now = now or utcnow()
    account = session.get(Account, account_id)
    if account is None:
        raise ValueError(f"there is no connected account {account_id}")
    settings = account_settings(account)
    limits = {str(action): settings.quota(action) for action in Action}
    lengths = [Window(1, HOUR), Window(1, DAY)]
    use = []
    for name in [*limits, CALLS]:
        counted = used_now(session, key=limit_key(account_id, name), windows=lengths, now=now)
        if name == CALLS:
            use.append(QuotaUse(name, counted[HOUR], 0, counted[DAY], settings.calls_per_day))
        else:
            quota = limits[name]
            use.append(QuotaUse(name, counted[HOUR], quota.per_hour, counted[DAY], quota.per_day))
    return use
