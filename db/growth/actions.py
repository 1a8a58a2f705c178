"""The action log and a batch's side of it: choosing the next targets of a held job and writing their
intents, recording outcomes, an account's turn to act (state, block, working hours, quotas, pacing)
and the blocks themselves.

Every action is written ``pending`` in the log (unique per account, action and target) before it is
sent. A row found ``pending`` or ``unknown`` later belongs to a try whose outcome nobody saw: the next
try checks the network's state before acting again.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from core.pacing import LimitKey
from db import limits
from db.base import upsert_insert, utcnow
from db.claims import Lease
from db.growth import graph
from db.growth.accounts import account_settings, notify, set_state
from db.growth.jobs import held
from db.growth.models import Account, ActionRecord, Cooldown, DailyStat, Job, Target
from rules.growth import CALLS, AccountState, Action, ActionStatus, JobKind, TargetStatus, UserRef

SERVICE = "network"  # the limiter's service name for the network's quotas
MAX_TRIES = 3  # tries of one target whose outcome stayed unknown, then it is failed
ACTION_OF = {JobKind.LIKE: Action.LIKE, JobKind.FOLLOW: Action.FOLLOW, JobKind.UNFOLLOW: Action.UNFOLLOW}


class Result(StrEnum):
    DONE = "done"
    FAILED = "failed"  # refused for this target for good
    UNKNOWN = "unknown"  # no answer: checked before the next try
    DEFERRED = "deferred"  # not sent (a block, quota, pause, …): back in the queue


@dataclass(frozen=True)
class ActionItem:
    """One action of a batch."""

    target_id: int
    job_id: int
    account_id: int
    action: Action
    target: str  # the post (likes) or the user (follows, unfollows)
    user_id: str
    username: str
    check_first: bool  # an earlier try's outcome is unknown: ask the network before acting


@dataclass(frozen=True)
class ActionOutcome:
    item: ActionItem
    result: Result
    detail: str | None = None


@dataclass(frozen=True)
class Turn:
    """An account's answer to "may I act now?": when to go, or why not and until when."""

    go_at: datetime | None
    refusal: str | None = None
    wake_at: datetime | None = None


def limit_key(account_id: int, action: str) -> LimitKey:
    return LimitKey(SERVICE, str(account_id), action)


def next_items(
    session: Session, *, job_id: int, lease: Lease, limit: int, now: datetime | None = None
) -> list[ActionItem]:
    """The next ``limit`` targets of a job this run holds, with their intents written.

    Left-over targets of a lost run come first. A target on the blacklist, or whose user this account
    acted on within ``recent_days`` in another job, is skipped with the reason; one the log shows done
    or failed already is settled without a call.
    """
    now = now or utcnow()
    job = session.scalar(select(Job).where(held(job_id, lease)))
    if job is None:
        return []
    account = session.get(Account, job.account_id)
    settings = account_settings(account)
    action = ACTION_OF[job.kind]
    rows = list(
        session.scalars(
            select(Target)
            .where(Target.job_id == job_id, Target.status.in_([TargetStatus.ACTING, TargetStatus.PENDING]))
            .order_by(Target.status != TargetStatus.ACTING, Target.position)
            .limit(limit)
        )
    )
    skipped = _skips(session, account, job, rows, settings.blacklist, settings.recent_days, now)
    rows = [row for row in rows if row.id not in skipped]
    if skipped:
        _settle(
            session,
            job,
            action,
            {target_id: (TargetStatus.SKIPPED, why) for target_id, why in skipped.items()},
            now,
        )
    if not rows:
        return []
    intents = [
        {
            "account_id": account.id,
            "action": action,
            "target": r.target,
            "user_id": r.user_id,
            "username": r.username,
            "job_id": job_id,
            "status": ActionStatus.PENDING,
            "created_at": now,
        }
        for r in rows
    ]
    written = set(
        session.scalars(
            upsert_insert(session, ActionRecord)
            .on_conflict_do_nothing(index_elements=["account_id", "action", "target"])
            .returning(ActionRecord.target),
            intents,
        )
    )
    earlier = {
        record.target: record
        for record in session.scalars(
            select(ActionRecord).where(
                ActionRecord.account_id == account.id,
                ActionRecord.action == action,
                ActionRecord.target.in_([r.target for r in rows if r.target not in written]),
            )
        )
    }
    items, settled = [], {}
    for row in rows:
        record = earlier.get(row.target)
        if record is None:
            items.append(_item(row, job, action, check_first=False))
        elif record.status is ActionStatus.DONE:
            settled[row.id] = (TargetStatus.DONE, "done before")
        elif record.status is ActionStatus.FAILED:
            settled[row.id] = (TargetStatus.FAILED, record.error or "failed before")
        elif record.job_id in (job_id, None):
            items.append(_item(row, job, action, check_first=True))
        else:
            settled[row.id] = (TargetStatus.SKIPPED, f"job {record.job_id} is acting on it")
    if settled:
        _settle(session, job, action, settled, now, acted=False)
    if items:
        session.execute(
            update(Target)
            .where(Target.id.in_([i.target_id for i in items]))
            .values(status=TargetStatus.ACTING, tries=Target.tries + 1)
            .execution_options(synchronize_session=False)
        )
    return items


def _item(row: Target, job: Job, action: Action, *, check_first: bool) -> ActionItem:
    return ActionItem(
        target_id=row.id,
        job_id=job.id,
        account_id=job.account_id,
        action=action,
        target=row.target,
        user_id=row.user_id,
        username=row.username,
        check_first=check_first,
    )


def _skips(
    session: Session,
    account: Account,
    job: Job,
    rows: Sequence[Target],
    blacklist: Sequence[str],
    recent_days: int,
    now: datetime,
) -> dict[int, str]:
    """Targets not to act on after all, with why."""
    reasons = {row.id: "blacklisted" for row in rows if row.username in set(blacklist)}
    if job.kind is JobKind.UNFOLLOW or not recent_days:
        return reasons
    users = {row.user_id for row in rows if row.id not in reasons}
    recent = set(
        session.scalars(
            select(ActionRecord.user_id).where(
                ActionRecord.account_id == account.id,
                ActionRecord.user_id.in_(list(users)),
                or_(ActionRecord.job_id.is_(None), ActionRecord.job_id != job.id),
                ActionRecord.status == ActionStatus.DONE,
                ActionRecord.done_at > now - timedelta(days=recent_days),
            )
        )
    )
    reasons |= {row.id: f"acted on within {recent_days} days" for row in rows if row.user_id in recent}
    return reasons


def _settle(
    session: Session,
    job: Job,
    action: Action,
    decided: dict[int, tuple[TargetStatus, str]],
    now: datetime,
    *,
    acted: bool = True,
) -> None:
    """Targets decided without a call: statuses, the job's counts and the day's stats."""
    for (status, reason), ids in _group(decided).items():
        session.execute(
            update(Target)
            .where(Target.id.in_(ids))
            .values(status=status, reason=reason, decided_at=now)
            .execution_options(synchronize_session=False)
        )
    counts = Counter(status for status, _ in decided.values())
    _count(session, job.id, job.account_id, action, now, counts, acted=acted)


def _group(decided: dict[int, tuple[TargetStatus, str]]) -> dict[tuple[TargetStatus, str], list[int]]:
    groups: dict[tuple[TargetStatus, str], list[int]] = {}
    for target_id, decision in decided.items():
        groups.setdefault(decision, []).append(target_id)
    return groups


def _count(
    session: Session,
    job_id: int,
    account_id: int,
    action: Action,
    now: datetime,
    counts: Counter[TargetStatus],
    *,
    acted: bool = True,
) -> None:
    """Add decided targets to the job's counts, and to the day's stats: skips always, done and
    failed ones only when ``acted`` (settled from the log, they were counted when they happened)."""
    done, failed, skipped = (
        counts[TargetStatus.DONE],
        counts[TargetStatus.FAILED],
        counts[TargetStatus.SKIPPED],
    )
    if not (done or failed or skipped):
        return
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(done=Job.done + done, failed=Job.failed + failed, skipped=Job.skipped + skipped)
        .execution_options(synchronize_session=False)
    )
    if not acted:
        done = failed = 0
    if done or failed or skipped:
        add_daily(
            session, account_id=account_id, action=action, now=now, done=done, failed=failed, skipped=skipped
        )


def add_daily(
    session: Session,
    *,
    account_id: int,
    action: str,
    now: datetime,
    done: int = 0,
    failed: int = 0,
    skipped: int = 0,
) -> None:
    """Count work in the account's day (its own time zone)."""
    zone = session.scalar(select(Account.timezone).where(Account.id == account_id)) or "UTC"
    day = now.astimezone(ZoneInfo(zone)).date()
    statement = upsert_insert(session, DailyStat)
    session.execute(
        statement.values(
            account_id=account_id, day=day, action=action, done=done, failed=failed, skipped=skipped
        ).on_conflict_do_update(
            index_elements=["account_id", "day", "action"],
            set_={
                "done": DailyStat.done + statement.excluded.done,
                "failed": DailyStat.failed + statement.excluded.failed,
                "skipped": DailyStat.skipped + statement.excluded.skipped,
            },
        )
    )


def record_outcomes(
    session: Session, *, outcomes: Sequence[ActionOutcome], now: datetime | None = None
) -> None:
    """Write what a group of actions came to: the log, the targets, the job's counts, the day's
    stats, and the edges a follow or unfollow changed."""
    now = now or utcnow()
    by_job: dict[int, list[ActionOutcome]] = {}
    for outcome in outcomes:
        by_job.setdefault(outcome.item.job_id, []).append(outcome)
    for job_outcomes in by_job.values():
        _record_job(session, job_outcomes, now)


def _record_job(session: Session, outcomes: list[ActionOutcome], now: datetime) -> None:
    first = outcomes[0].item
    log_status = {
        Result.DONE: ActionStatus.DONE,
        Result.FAILED: ActionStatus.FAILED,
        Result.UNKNOWN: ActionStatus.UNKNOWN,
    }
    decided: dict[int, tuple[TargetStatus, str | None]] = {}
    for outcome in outcomes:
        item = outcome.item
        where = and_(
            ActionRecord.account_id == item.account_id,
            ActionRecord.action == item.action,
            ActionRecord.target == item.target,
        )
        if outcome.result is Result.DEFERRED:
            if not item.check_first:  # never sent: the intent goes, the target waits
                session.execute(
                    delete(ActionRecord).where(where, ActionRecord.status == ActionStatus.PENDING)
                )
            decided[item.target_id] = (TargetStatus.PENDING, outcome.detail)
            continue
        session.execute(
            update(ActionRecord)
            .where(where)
            .values(
                status=log_status[outcome.result],
                error=outcome.detail if outcome.result is not Result.DONE else None,
                done_at=now if outcome.result is Result.DONE else None,
            )
            .execution_options(synchronize_session=False)
        )
        decided[item.target_id] = {
            Result.DONE: (TargetStatus.DONE, None),
            Result.FAILED: (TargetStatus.FAILED, outcome.detail),
            Result.UNKNOWN: (TargetStatus.PENDING, outcome.detail),
        }[outcome.result]
    _give_up_unknown(session, outcomes, decided)
    for (status, reason), ids in _group(decided).items():  # type: ignore[arg-type]
        values: dict[str, object] = {"status": status, "reason": reason}
        if status is not TargetStatus.PENDING:
            values["decided_at"] = now
        session.execute(
            update(Target)
            .where(Target.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    deferred = [o.item.target_id for o in outcomes if o.result is Result.DEFERRED]
    if deferred:  # a try that never went out does not count
        session.execute(
            update(Target)
            .where(Target.id.in_(deferred))
            .values(tries=Target.tries - 1)
            .execution_options(synchronize_session=False)
        )
    job = session.get(Job, first.job_id)
    counts = Counter(status for status, _ in decided.values())
    _count(session, job.id, job.account_id, first.action, now, counts)
    _change_edges(session, outcomes, now)


def _give_up_unknown(
    session: Session, outcomes: list[ActionOutcome], decided: dict[int, tuple[TargetStatus, str | None]]
) -> None:
    unknown = [o.item.target_id for o in outcomes if o.result is Result.UNKNOWN]
    if not unknown:
        return
    tries = dict(
        session.execute(select(Target.id, Target.tries).where(Target.id.in_(unknown))).tuples().all()
    )
    for target_id in unknown:
        if tries.get(target_id, 0) >= MAX_TRIES:
            decided[target_id] = (TargetStatus.FAILED, f"outcome still unknown after {MAX_TRIES} tries")


def _change_edges(session: Session, outcomes: list[ActionOutcome], now: datetime) -> None:
    done = [o.item for o in outcomes if o.result is Result.DONE]
    follows = [i for i in done if i.action is Action.FOLLOW]
    unfollows = [i for i in done if i.action is Action.UNFOLLOW]
    for item in follows:
        graph.add_edge(
            session,
            account_id=item.account_id,
            kind=graph.FOLLOWING,
            user=UserRef(item.user_id, item.username),
            now=now,
        )
    if unfollows:
        graph.remove_edges(
            session,
            account_id=unfollows[0].account_id,
            kind=graph.FOLLOWING,
            user_ids=[i.user_id for i in unfollows],
            now=now,
        )


def take_turn(
    session: Session,
    *,
    item: ActionItem,
    lease: Lease,
    rng: random.Random,
    enforce_quotas: bool = True,
    now: datetime | None = None,
) -> Turn:
    """May the item's account act now? Checks that this run still holds the job, the account's state,
    a block of the action, its working hours and its quotas (reserving one use of the action and one
    server call), then takes the account's next pacing slot:
    the answer says when to go (the last action's time plus a random delay within the account's
    bounds), or why not and until when."""
    now = now or utcnow()
    query = select(Account).where(Account.id == item.account_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # pacing slots of one account are taken one at a time
    account = session.scalar(query)
    refusal = _refusal(session, account, item, lease, now)
    if refusal is not None:
        return refusal
    settings = account_settings(account)
    if enforce_quotas:
        for name, windows in (
            (str(item.action), settings.quota(item.action).windows()),
            (CALLS, settings.calls_windows()),
        ):
            key = limit_key(item.account_id, name)
            reservation = limits.reserve(session, key=key, windows=windows, wanted=1, now=now)
            if not reservation.granted:
                until = datetime.fromtimestamp(reservation.retry_at or reservation.valid_until, now.tzinfo)
                return Turn(None, f"{name} quota spent", until)
    go_at = max(now, account.next_action_at or now)
    delay = settings.delay(rng)
    if delay:
        account.next_action_at = go_at + timedelta(seconds=delay)
    return Turn(go_at)


def _refusal(
    session: Session, account: Account | None, item: ActionItem, lease: Lease, now: datetime
) -> Turn | None:
    action = item.action
    if session.scalar(select(Job.id).where(held(item.job_id, lease))) is None:
        return Turn(None, "the job was paused or taken over", None)
    if account is None:
        return Turn(None, "the account is gone", None)
    if account.state is not AccountState.ACTIVE:
        return Turn(None, f"the account is {account.state.value.replace('_', ' ')}", None)
    cooldown = session.get(Cooldown, (account.id, action))
    if cooldown is not None and cooldown.until > now:
        return Turn(None, f"{action} blocked: {cooldown.reason}", cooldown.until)
    hours = account_settings(account).hours(account.timezone)
    if not hours.contains(now):
        return Turn(None, "outside working hours", hours.next_start(now))
    return None


def gate(session: Session, *, item: ActionItem, lease: Lease, now: datetime | None = None) -> Turn:
    """The cheap part of ``take_turn`` (the job, the account's state, a block, working hours),
    without quotas or pacing."""
    now = now or utcnow()
    return _refusal(session, session.get(Account, item.account_id), item, lease, now) or Turn(now)


def freeze(
    session: Session,
    *,
    account_id: int,
    action: Action,
    hours: float,
    reason: str,
    now: datetime | None = None,
) -> datetime:
    """Freeze ``action`` of the account for ``hours`` on every worker, with a notice (once per block:
    a block already in force is kept). Returns when the block ends."""
    now = now or utcnow()
    until = now + timedelta(hours=hours)
    statement = upsert_insert(session, Cooldown)
    started = session.execute(  # the write comes first: two workers blocked at once write one block
        statement.values(
            account_id=account_id, action=action, until=until, reason=reason, created_at=now
        ).on_conflict_do_update(
            index_elements=["account_id", "action"],
            set_={"until": until, "reason": reason, "created_at": now},
            where=Cooldown.until <= now,
        )
    ).rowcount
    if not started:
        return session.get(Cooldown, (account_id, action)).until
    notify(
        session,
        account_id=account_id,
        level="warning",
        text=f"{action} blocked by the network ({reason}): frozen until {until:%Y-%m-%d %H:%M} UTC",
    )
    return until


def lift(session: Session, *, account_id: int, action: Action) -> bool:
    """End a block early (a person decided so)."""
    return bool(
        session.execute(
            delete(Cooldown).where(Cooldown.account_id == account_id, Cooldown.action == action)
        ).rowcount
    )


def needs_attention(session: Session, *, account_id: int, reason: str) -> bool:
    """Stop all work of the account until a person acts (a challenge, a login required), with a notice."""
    moved = set_state(
        session,
        account_id=account_id,
        state=AccountState.NEEDS_ATTENTION,
        reason=reason,
        from_=(AccountState.ACTIVE,),
    )
    if moved:
        notify(session, account_id=account_id, level="error", text=f"the account needs attention: {reason}")
    return moved
