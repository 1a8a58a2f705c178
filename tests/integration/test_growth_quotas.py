"""Quotas hold over any interleaving of runs and workers (hypothesis), with quotas changed meanwhile,
and under real concurrency (threads, SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from db.claims import Lease
from db.growth import accounts, actions, jobs
from db.growth.jobs import NewTarget
from rules.growth import AccountSettings, FollowSource, JobKind, JobStatus, Quota

Sessions = sessionmaker[Session]
START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
names = itertools.count()


def _setup(
    sessions: Sessions, per_hour: int, per_day: int, workers: int
) -> list[tuple[actions.ActionItem, Lease]]:
    """An account with one follow job per worker, each held by its worker; one item each."""
    name = f"quota{next(names)}"
    quota = {"per_hour": per_hour, "per_day": per_day}
    with sessions.begin() as session:
        account = accounts.add_account(
            session,
            owner="o",
            username=name,
            user_id=name,
            session_secret="s" * 12,
            timezone="UTC",
            settings=AccountSettings(follow_quota=Quota(**quota), min_delay=0, max_delay=0),
        )
        account.follows_on = True
        account_id = account.id
    held = []
    for worker in range(workers):
        with sessions.begin() as session:
            job = jobs.create_job(
                session,
                account_id=account_id,
                kind=JobKind.FOLLOW,
                wanted=1,
                source=FollowSource.HASHTAG,
                target="x",
            )
            jobs.add_targets(session, job_id=job.id, targets=[NewTarget(f"{name}-{worker}", "u", "user")])
            jobs.transition(session, job_ids=[job.id], to=JobStatus.FOLLOWS, from_=[JobStatus.ADDED])
        lease = Lease(10**6)
        with sessions.begin() as session:
            jobs.claim_job(session, kind=JobKind.FOLLOW, stage=JobStatus.FOLLOWS, lease=lease, now=START)
            (item,) = actions.next_items(session, job_id=job.id, lease=lease, limit=1, now=START)
        held.append((item, lease))
    return held


def _set_quota(sessions: Sessions, account_id: int, per_hour: int, per_day: int) -> None:
    with sessions.begin() as session:
        account = accounts.find_account(session, account_id)
        changed = accounts.account_settings(account).model_copy(
            update={"follow_quota": Quota(per_hour=per_hour, per_day=per_day)}
        )
        accounts.change_account(session, account=account, settings=changed)


steps = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 900), st.booleans()),  # worker, seconds later, change quota
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_hour=st.integers(0, 6), per_day=st.integers(0, 12), lowered=st.integers(0, 6), script=steps)
def test_quotas_are_never_exceeded_over_any_interleaving(
    sessions: Sessions, per_hour: int, per_day: int, lowered: int, script: list[tuple[int, int, bool]]
) -> None:
    held = _setup(sessions, per_hour, per_day, workers=4)
    account_id = held[0][0].account_id
    rng = random.Random(0)
    now = START
    limits = (per_hour, per_day)
    granted_per_hour: Counter[int] = Counter()
    granted_per_day: Counter[int] = Counter()
    for worker, later, change in script:
        now += timedelta(seconds=later)
        if change:  # a person changes the quota while the jobs run
            limits = (min(limits[0], lowered), limits[1])
            _set_quota(sessions, account_id, *limits)
        item, lease = held[worker]
        with sessions.begin() as session:
            turn = actions.take_turn(session, item=item, lease=lease, rng=rng, now=now)
        hour, day = int(now.timestamp()) // 3600, int(now.timestamp()) // 86400
        if turn.refusal is None:
            granted_per_hour[hour] += 1
            granted_per_day[day] += 1
            assert granted_per_hour[hour] <= limits[0]  # the quota in force when it was granted
            assert granted_per_day[day] <= limits[1]
        else:
            assert turn.refusal == "follow quota spent" and turn.wake_at > now


def test_quotas_hold_across_concurrent_workers(sessions: Sessions) -> None:
    held = _setup(sessions, per_hour=25, per_day=1000, workers=4)
    now = datetime.now(UTC)

    def worker(index: int) -> int:
        item, lease = held[index]
        rng = random.Random(index)
        granted = 0
        for _ in range(20):
            with sessions.begin() as session:
                if actions.take_turn(session, item=item, lease=lease, rng=rng, now=now).refusal is None:
                    granted += 1
        return granted

    with ThreadPoolExecutor(4) as pool:
        granted = sum(pool.map(worker, range(4)))
    assert granted == 25  # 80 asked for, exactly the hour's quota granted
