"""Growth end to end against the sandbox's photo network: connecting accounts, syncing (removals
included), planning and acting on follow, like and unfollow jobs, skip rules, blocks, challenges,
unknown outcomes, two workers on one job, a worker killed mid-job, and the real flow runs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from commands import growth as commands
from core.settings import PROJECT_ROOT
from db.base import utcnow
from db.growth import accounts, graph, reports
from db.growth.models import Account, ActionRecord, Cooldown, Job, Target
from rules.growth import AccountState, ActionStatus, JobKind, JobStatus, TargetStatus
from sandbox.network import CATALOG
from tasks.growth_actions import act, claim_for_acting
from tasks.growth_planning import claim_for_planning, plan
from tasks.growth_sync import sync
from tests.conftest import ConfigureSandbox, set_env

Sessions = sessionmaker[Session]
PASSWORD = "sandbox-password"
UNPACED = {"min_delay": 0, "max_delay": 0}
LOOSE = {"skip": {"max_ratio": None, "max_followers": None, "skip_no_posts": False}}


@pytest.fixture
def network(sandbox_url: str, sessions: Sessions) -> Iterator[str]:
    """The network's settings on the test sandbox (overlay and counters reset), quick timeouts."""
    saved = dict(os.environ)
    base = f"{sandbox_url}/network"
    httpx.post(f"{base}/_control/reset").raise_for_status()
    set_env(
        {
            "SWITCHYARD_NETWORK__BASE_URL": base,
            "SWITCHYARD_NETWORK__READ_TIMEOUT": "0.5",
            "SWITCHYARD_NETWORK__CONNECT_TIMEOUT": "0.5",
            "SWITCHYARD_GROWTH__ACTION_CONCURRENCY": "4",
        }
    )
    yield base
    os.environ.clear()
    os.environ.update(saved)
    from core.settings import get_settings

    get_settings.cache_clear()


def counters(base: str) -> dict[str, Any]:
    return httpx.get(f"{base}/_counters").json()


def control(base: str, method: str, path: str, **body: Any) -> None:
    httpx.request(method, f"{base}/_control/{path}", json=body or None).raise_for_status()


def _add(name: str = "demo_bakery", **settings: Any) -> int:
    return commands.add_account(
        owner="anna",
        username=name,
        password=PASSWORD,
        settings=UNPACED | settings,
        follows_on=True,
        likes_on=True,
        unfollows_on=True,
    ).id


def _plan_all(kind: JobKind) -> list[Any]:
    results = []
    while (claimed := claim_for_planning(kind)) is not None:
        results.append(asyncio.run(plan(*claimed)))
    return results


def _act_all(kind: JobKind) -> list[Any]:
    results = []
    while (claimed := claim_for_acting(kind)) is not None:
        results.append(asyncio.run(act(*claimed)))
    return results


def _job(sessions: Sessions, job_id: int) -> Job:
    with sessions.begin() as session:
        return session.get(Job, job_id)


def test_adding_an_account_logs_in_and_bad_input_stores_nothing(network: str, sessions: Sessions) -> None:
    for kwargs, message in (
        ({"username": "demo_bakery", "password": "wrong"}, "password"),
        ({"username": "nobody_at_all", "password": PASSWORD}, "network said"),
        ({"username": "not a name", "password": PASSWORD}, "username"),
        ({"username": "demo_bakery", "password": PASSWORD, "timezone": "Nowhere/Land"}, "time zone"),
        (
            {"username": "demo_bakery", "password": PASSWORD, "settings": {"min_delay": 9, "max_delay": 1}},
            "max_delay",
        ),
        (
            {
                "username": "demo_bakery",
                "password": PASSWORD,
                "settings": {"like_quota": {"per_hour": -1, "per_day": 1}},
            },
            "per_hour",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            commands.add_account(owner="anna", **kwargs)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 0
    account_id = _add()
    with pytest.raises(ValueError, match="connected already"):
        _add()
    with sessions.begin() as session:
        account = session.get(Account, account_id)
        assert account.user_id == str(CATALOG["demo_bakery"].pk) and account.follows_on


def test_a_sync_stores_details_followers_and_followings_and_sees_removals(
    network: str, sessions: Sessions
) -> None:
    account_id = _add()
    first = asyncio.run(sync(account_id))
    assert first.likes_on  # so the flow starts its like planning at once
    bakery = CATALOG["demo_bakery"]
    assert (first.error, first.followers, first.followings) == (None, bakery.followers, bakery.followings)
    control(network, "POST", "accounts/demo_bakery/remove_followers", count=50)
    second = asyncio.run(sync(account_id))
    assert (second.followers, second.removed) == (bakery.followers - 50, 50)
    with sessions.begin() as session:
        assert graph.edge_counts(session, account_id=account_id) == {
            "follower": bakery.followers - 50,
            "following": bakery.followings,
        }
        assert [p.followers for p in reports.followers_over_time(session, account_id=account_id)] == [
            bakery.followers,
            bakery.followers - 50,
        ]
        assert session.get(Account, account_id).last_synced_at is not None


def test_a_challenged_sync_puts_the_account_aside_with_a_notice(network: str, sessions: Sessions) -> None:
    account_id = _add()
    control(network, "POST", "accounts/demo_bakery/challenge")
    result = asyncio.run(sync(account_id))
    assert "challenge" in result.error
    with sessions.begin() as session:
        assert session.get(Account, account_id).state is AccountState.NEEDS_ATTENTION
        (notice,) = accounts.list_notices(session, owner="anna")
        assert "needs attention" in notice.text
    with pytest.raises(ValueError, match="password"):
        commands.resume_account("demo_bakery")
    control(network, "DELETE", "accounts/demo_bakery/challenge")
    assert commands.resume_account("demo_bakery", password=PASSWORD)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("account", "nobody_at_all", "there is no account"),
        ("account", "private_person", "private"),
        ("hashtag", "nosuchtag", "there is no hashtag"),
        ("location", "Moscow", "numeric id"),
        ("location", "999", "there is no location"),
        ("planet", "x", "unknown source"),
    ],
)
def test_a_follow_job_for_a_bad_target_is_refused(
    network: str, sessions: Sessions, source: str, target: str, message: str
) -> None:
    _add()
    with pytest.raises(ValueError, match=message):
        commands.create_follow_job("demo_bakery", source=source, target=target, count=5)
    with pytest.raises(ValueError, match="count"):
        commands.create_follow_job("demo_bakery", source="hashtag", target="art", count=0)
    with pytest.raises(ValueError, match="no connected account"):
        commands.create_follow_job("someone_else", source="hashtag", target="art", count=5)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_follow_job_is_planned_with_skips_and_followed_once_each(network: str, sessions: Sessions) -> None:
    _add(skip={"skip_private": True, "skip_business": True})
    job = commands.create_follow_job("demo_bakery", source="account", target="Corner_Shop", count=12)
    (planned,) = _plan_all(JobKind.FOLLOW)
    assert planned.status is JobStatus.FOLLOWS and planned.candidates == 12
    with sessions.begin() as session:
        skipped = reports.skip_reasons(session, account_id=_job(sessions, job.id).account_id)
    assert sum(skipped.values()) == planned.skipped
    batches = _act_all(JobKind.FOLLOW)
    assert sum(b.done for b in batches) == 12 and batches[-1].status is JobStatus.PROCESSED
    totals = counters(network)["accounts"]["demo_bakery"]["follow"]
    assert (totals["applied"], totals["duplicates"]) == (12, 0)
    done = _job(sessions, job.id)
    assert (done.status, done.done, done.finished_at is not None) == (JobStatus.PROCESSED, 12, True)
    with sessions.begin() as session:
        (stat,) = reports.actions_per_day(session, account_id=done.account_id)
        assert (stat.action, stat.done) == ("follow", 12)
        following = graph.edge_counts(session, account_id=done.account_id)["following"]
        assert following == 12


def test_a_like_job_likes_recent_posts_of_followers_after_a_sync(network: str, sessions: Sessions) -> None:
    account_id = _add(**LOOSE)
    like = commands.create_like_job("demo_bakery")
    (waiting,) = _plan_all(JobKind.LIKE)  # no followers known yet: it waits for the first sync
    assert waiting.error == "waiting for the account's first sync"
    assert _job(sessions, like.id).wake_at > utcnow()
    asyncio.run(sync(account_id))
    with sessions.begin() as session:
        session.execute(update(Job).values(wake_at=None))
    (planned,) = _plan_all(JobKind.LIKE)
    assert planned.status is JobStatus.FOLLOWS and planned.candidates == 4
    batches = _act_all(JobKind.LIKE)
    with sessions.begin() as session:
        posts = session.scalar(
            select(func.count()).where(Target.job_id == like.id, Target.status == TargetStatus.DONE)
        )
    totals = counters(network)["accounts"]["demo_bakery"]["like"]
    assert sum(b.done for b in batches) == posts == totals["applied"] and totals["duplicates"] == 0
    assert 4 <= posts <= 8  # up to 2 recent posts of each of 4 followers
    assert _job(sessions, like.id).status is JobStatus.PROCESSED


def test_a_block_freezes_the_action_for_every_job_of_the_account_with_one_notice(
    network: str, sessions: Sessions
) -> None:
    _add(**LOOSE)
    control(network, "PUT", "accounts/demo_bakery/block_budget", budget=3)
    first = commands.create_follow_job("demo_bakery", source="hashtag", target="art", count=8)
    second = commands.create_follow_job("demo_bakery", source="hashtag", target="travel", count=8)
    _plan_all(JobKind.FOLLOW)
    _act_all(JobKind.FOLLOW)
    totals = counters(network)["accounts"]["demo_bakery"]["follow"]
    assert totals["applied"] == 3
    assert totals["received"] <= 3 + 4  # one answer blocked per batch in flight, nothing after
    with sessions.begin() as session:
        (cooldown,) = session.scalars(select(Cooldown)).all()
        assert cooldown.until > utcnow() + timedelta(hours=23)
        notices = accounts.list_notices(session, owner="anna")
        assert len(notices) == 1 and "blocked" in notices[0].text
        (summary,) = reports.accounts(session)
        assert summary.blocks[0].until == cooldown.until
    for job_id in (first.id, second.id):
        job = _job(sessions, job_id)
        assert job.status is JobStatus.FOLLOWS
        if job.batches:  # the job that met the block sleeps until it ends
            assert job.wake_at == cooldown.until and "blocked" in job.waiting_for
    assert claim_for_acting(JobKind.FOLLOW) is None or _act_all(JobKind.FOLLOW)[0].done == 0
    assert counters(network)["accounts"]["demo_bakery"]["follow"]["applied"] == 3


def test_an_action_that_timed_out_is_checked_and_never_sent_twice(
    network: str, sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    _add(**LOOSE)
    job = commands.create_follow_job("demo_bakery", source="hashtag", target="food", count=6)
    _plan_all(JobKind.FOLLOW)
    configure_sandbox(network_timeout_rate=1.0)
    batches = _act_all(JobKind.FOLLOW)
    assert sum(b.done for b in batches) == 6  # each applied, timed out, then found done by the check
    totals = counters(network)["accounts"]["demo_bakery"]["follow"]
    assert (totals["received"], totals["applied"], totals["duplicates"]) == (6, 6, 0)
    with sessions.begin() as session:
        statuses = set(session.scalars(select(ActionRecord.status).where(ActionRecord.job_id == job.id)))
    assert statuses == {ActionStatus.DONE}


def test_two_workers_never_act_on_one_job(network: str, sessions: Sessions) -> None:
    _add(**LOOSE)
    commands.change_logic(follow_batch=5)
    job = commands.create_follow_job("demo_bakery", source="location", target="213385402", count=30)
    _plan_all(JobKind.FOLLOW)

    async def worker() -> int:
        done = 0
        while (claimed := await asyncio.to_thread(claim_for_acting, JobKind.FOLLOW)) is not None:
            done += (await act(*claimed)).done
        return done

    async def both() -> list[int]:
        return await asyncio.gather(worker(), worker())

    done = asyncio.run(both())
    planned = _job(sessions, job.id)
    assert sum(done) == planned.done
    totals = counters(network)["accounts"]["demo_bakery"]["follow"]
    assert totals["applied"] == planned.done and totals["duplicates"] == 0


def test_unfollows_only_users_followed_here_not_following_back_after_the_days(
    network: str, sessions: Sessions
) -> None:
    account_id = _add(**LOOSE, unfollow_after_days=7, unfollow_policy="not_following_back")
    asyncio.run(sync(account_id))
    commands.create_follow_job("demo_bakery", source="hashtag", target="coffee", count=10)
    _plan_all(JobKind.FOLLOW)
    _act_all(JobKind.FOLLOW)
    with sessions.begin() as session:
        session.execute(update(ActionRecord).values(done_at=utcnow() - timedelta(days=8)))
    asyncio.run(sync(account_id))  # sees who followed back
    from tasks.growth_planning import open_unfollow_jobs

    opened = open_unfollow_jobs.fn()
    batches = _act_all(JobKind.UNFOLLOW)
    with sessions.begin() as session:
        follows_back = graph.current_edges(
            session,
            account_id=account_id,
            kind=graph.FOLLOWER,
            user_ids=session.scalars(select(ActionRecord.user_id).where(ActionRecord.action == "follow")),
        )
    unfollowed = sum(b.done for b in batches)
    assert len(opened) == (1 if unfollowed else 0)
    assert unfollowed == 10 - len(follows_back)
    totals = counters(network)["accounts"]["demo_bakery"]
    assert totals.get("unfollow", {}).get("applied", 0) == unfollowed


KILLED_WORKER = """
import asyncio, sys
from rules.growth import JobKind
from tasks.growth_actions import act, claim_for_acting

async def main():
    while (claimed := await asyncio.to_thread(claim_for_acting, JobKind.FOLLOW)) is not None:
        await act(*claimed)

asyncio.run(main())
"""


def test_a_worker_killed_mid_job_leaves_nothing_to_repeat(
    network: str, sessions: Sessions, database_url: str, configure_sandbox: ConfigureSandbox
) -> None:
    _add(**LOOSE, follow_quota={"per_hour": 1000, "per_day": 1000})
    commands.change_logic(follow_batch=10)
    job = commands.create_follow_job("demo_bakery", source="account", target="big_brand", count=60)
    _plan_all(JobKind.FOLLOW)
    configure_sandbox(network_latency_ms=40)
    env = dict(os.environ) | {"SWITCHYARD_GROWTH__LEASE_SECONDS": "10", "PYTHONPATH": str(PROJECT_ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER], env=env, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        applied = counters(network)["accounts"].get("demo_bakery", {}).get("follow", {}).get("applied", 0)
        if applied >= 15:
            break
        time.sleep(0.05)
    worker.kill()  # SIGKILL: no cleanup, claims and intents left as they were
    worker.wait()
    at_kill = counters(network)["accounts"]["demo_bakery"]["follow"]["applied"]
    assert 15 <= at_kill < _job(sessions, job.id).wanted
    with sessions.begin() as session:  # the dead worker's lease ends; another worker takes the job
        session.execute(update(Job).values(claimed_until=utcnow() - timedelta(seconds=1)))
    _act_all(JobKind.FOLLOW)
    totals = counters(network)["accounts"]["demo_bakery"]["follow"]
    finished = _job(sessions, job.id)
    with sessions.begin() as session:
        left = session.execute(select(Target.status, Target.reason).where(Target.job_id == job.id)).all()
    assert finished.status is JobStatus.PROCESSED, (finished.waiting_for, left)
    assert totals["duplicates"] == 0 and totals["applied"] == finished.done == totals["received"]


def test_the_flows_plan_and_run_follow_jobs(network: str, sessions: Sessions, prefect_harness: None) -> None:
    from flows.growth import plan_follows, run_follows, sync_account

    account_id = _add(**LOOSE)
    assert asyncio.run(sync_account(account_id=account_id))["followers"] == CATALOG["demo_bakery"].followers
    job = commands.create_follow_job("demo_bakery", source="hashtag", target="moscow", count=5)
    assert asyncio.run(plan_follows())["jobs"] == 1
    assert asyncio.run(run_follows())["done"] == 5
    assert _job(sessions, job.id).status is JobStatus.PROCESSED
    assert json.dumps(counters(network)["duplicates"]) == "[]"


def test_pacing_spaces_actions_and_a_pause_stops_a_waiting_batch(network: str, sessions: Sessions) -> None:
    _add(**LOOSE | {"min_delay": 3, "max_delay": 3})
    set_env({"SWITCHYARD_GROWTH__ACTION_CONCURRENCY": "1"})
    job = commands.create_follow_job("demo_bakery", source="hashtag", target="art", count=5)
    _plan_all(JobKind.FOLLOW)

    async def run_and_pause() -> Any:
        batch = asyncio.create_task(act(*claim_for_acting(JobKind.FOLLOW)))
        while counters(network)["accounts"].get("demo_bakery", {}).get("follow", {}).get("applied", 0) < 2:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(commands.pause_account, "demo_bakery")  # during the third one's wait
        return await batch

    result = asyncio.run(run_and_pause())
    assert result.done == 2 and result.deferred == 3
    assert "paused" in result.waiting_for
    assert counters(network)["accounts"]["demo_bakery"]["follow"]["received"] == 2
    assert _job(sessions, job.id).status is JobStatus.FOLLOWS


def test_one_job_that_fails_does_not_stop_the_others(
    network: str, sessions: Sessions, prefect_harness: None
) -> None:
    from flows.growth import run_follows

    bakery, gallery = _add(**LOOSE), _add("demo_gallery", **LOOSE)
    good = commands.create_follow_job("demo_bakery", source="hashtag", target="travel", count=4)
    bad = commands.create_follow_job("demo_gallery", source="hashtag", target="food", count=4)
    _plan_all(JobKind.FOLLOW)
    with sessions.begin() as session:  # a session whose key was dropped: its batches cannot start
        session.get(Account, gallery).session_secret = "not-a-fernet-token"
    assert asyncio.run(run_follows())["done"] == 4
    assert _job(sessions, good.id).status is JobStatus.PROCESSED
    stuck = _job(sessions, bad.id)
    assert (stuck.status, stuck.done) == (JobStatus.FOLLOWS, 0)
    with sessions.begin() as session:  # its account waits for a person, with the reason
        account = session.get(Account, gallery)
        assert account.state is AccountState.NEEDS_ATTENTION and "cannot be decrypted" in account.state_reason
        assert session.get(Account, bakery).state is AccountState.ACTIVE
