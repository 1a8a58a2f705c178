"""Growth's database side on SQLite and PostgreSQL: the graph a sync keeps (removals included), job
claims (one holder), candidates and the action log (never twice), turns (state, blocks, hours,
quotas, pacing), unfollow policy, the job logic and the stored secrets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.claims import Lease
from db.growth import accounts, actions, config, graph, jobs, reports
from db.growth.actions import ActionOutcome, Result
from db.growth.jobs import NewTarget
from db.growth.models import Account, ActionRecord, DailyStat, Edge, Job, Target
from rules.growth import (
    AccountSettings,
    AccountState,
    Action,
    ActionStatus,
    FollowSource,
    JobKind,
    JobStatus,
    Profile,
    Quota,
    TargetStatus,
    UnfollowPolicy,
    UserRef,
)

Sessions = sessionmaker[Session]
UNPACED = {"min_delay": 0, "max_delay": 0}


def _account(sessions: Sessions, name: str = "bakery", **settings: object) -> int:
    with sessions.begin() as session:
        account = accounts.add_account(
            session,
            owner="anna",
            username=name,
            user_id=f"id-{name}",
            session_secret=f"secret-session-of-{name}",
            timezone="UTC",
            settings=AccountSettings.model_validate(UNPACED | settings),
        )
        account.likes_on = account.follows_on = account.unfollows_on = True
        return account.id


def _users(count: int, start: int = 0) -> list[UserRef]:
    return [UserRef(f"u{n}", f"user{n}") for n in range(start, start + count)]


def _follow_job(sessions: Sessions, account_id: int, targets: list[UserRef], *, wanted: int = 10) -> int:
    with sessions.begin() as session:
        job = jobs.create_job(
            session,
            account_id=account_id,
            kind=JobKind.FOLLOW,
            wanted=wanted,
            source=FollowSource.HASHTAG,
            target="art",
        )
        jobs.add_targets(
            session, job_id=job.id, targets=[NewTarget(u.user_id, u.user_id, u.username) for u in targets]
        )
        jobs.transition(session, job_ids=[job.id], to=JobStatus.FOLLOWS, from_=[JobStatus.ADDED])
        return job.id


def _claim(
    sessions: Sessions, lease: Lease, kind: JobKind = JobKind.FOLLOW, **kw: object
) -> jobs.ClaimedJob | None:
    with sessions.begin() as session:
        return jobs.claim_job(session, kind=kind, stage=JobStatus.FOLLOWS, lease=lease, **kw)


def test_the_session_is_stored_encrypted_and_a_second_add_is_refused(sessions: Sessions) -> None:
    account_id = _account(sessions)
    with sessions.begin() as session:
        stored = session.get(Account, account_id).session_secret
        assert "secret-session-of-bakery" not in stored
        assert accounts.login_of(session, account_id=account_id).session == "secret-session-of-bakery"
        assert "secret-session" not in repr(accounts.login_of(session, account_id=account_id))
    with pytest.raises(ValueError, match="connected already"), sessions.begin() as session:
        accounts.add_account(
            session,
            owner="bob",
            username="@Bakery",
            user_id="x",
            session_secret="s" * 10,
            timezone="UTC",
            settings=AccountSettings(),
        )
    with pytest.raises(ValueError, match="time zone"), sessions.begin() as session:
        accounts.add_account(
            session,
            owner="bob",
            username="other",
            user_id="x",
            session_secret="s" * 10,
            timezone="Mars/Base",
            settings=AccountSettings(),
        )
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 1


def test_a_sync_keeps_edges_current_and_closes_removals_only_after_a_full_listing(sessions: Sessions) -> None:
    account_id = _account(sessions)
    first = utcnow()
    with sessions.begin() as session:
        graph.store_edges(session, account_id=account_id, kind=graph.FOLLOWER, users=_users(5), seen_at=first)
        assert (
            graph.close_removed(session, account_id=account_id, kind=graph.FOLLOWER, sync_started=first) == 0
        )
    second = first + timedelta(hours=1)
    with sessions.begin() as session:  # u0 and u1 left, u5 is new
        graph.store_edges(
            session, account_id=account_id, kind=graph.FOLLOWER, users=_users(4, 2), seen_at=second
        )
        assert (
            graph.close_removed(session, account_id=account_id, kind=graph.FOLLOWER, sync_started=second) == 2
        )
        assert graph.edge_counts(session, account_id=account_id) == {"follower": 4, "following": 0}
    third = second + timedelta(hours=1)
    with sessions.begin() as session:  # u0 comes back: the same edge, seen again
        graph.store_edges(session, account_id=account_id, kind=graph.FOLLOWER, users=_users(1), seen_at=third)
        edge = session.get(Edge, (account_id, graph.FOLLOWER, "u0"))
        assert edge.removed_at is None and edge.first_seen == first and edge.last_seen == third


def test_the_account_profile_is_a_snapshot_and_a_point_in_followers_over_time(sessions: Sessions) -> None:
    account_id = _account(sessions)
    for followers in (10, 12):
        with sessions.begin() as session:
            profile = Profile("id-bakery", "bakery", followers=followers, followings=3, posts=7)
            graph.store_account_profile(session, account_id=account_id, profile=profile, now=utcnow())
    with sessions.begin() as session:
        assert [p.followers for p in reports.followers_over_time(session, account_id=account_id)] == [10, 12]
        (summary,) = reports.accounts(session)
        assert (summary.followers, summary.followings, summary.posts) == (12, 3, 7)


def test_one_holder_per_job_and_a_lapsed_lease_lets_another_take_it(sessions: Sessions) -> None:
    account_id = _account(sessions)
    job_id = _follow_job(sessions, account_id, _users(3))
    first, second = Lease(30), Lease(30)
    now = utcnow()
    claimed = _claim(sessions, first, now=now)
    assert claimed is not None and claimed.id == job_id and claimed.batch_no == 1
    assert _claim(sessions, second, now=now) is None
    with sessions.begin() as session:
        assert jobs.renew_job(session, job_id=job_id, lease=first)
        assert not jobs.renew_job(session, job_id=job_id, lease=second)
    later = now + timedelta(seconds=120)
    assert _claim(sessions, second, now=later).id == job_id
    with sessions.begin() as session:
        assert actions.next_items(session, job_id=job_id, lease=first, limit=10) == []  # no longer held


def test_intents_are_written_before_acting_and_a_rerun_never_repeats_an_action(sessions: Sessions) -> None:
    account_id = _account(sessions)
    job_id = _follow_job(sessions, account_id, _users(4))
    lease = Lease(30)
    _claim(sessions, lease)
    with sessions.begin() as session:
        items = actions.next_items(session, job_id=job_id, lease=lease, limit=3)
    assert [i.user_id for i in items] == ["u0", "u1", "u2"] and not any(i.check_first for i in items)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(ActionRecord)) == 3
        outcomes = [
            ActionOutcome(items[0], Result.DONE),
            ActionOutcome(items[1], Result.UNKNOWN, "timed out"),
            ActionOutcome(items[2], Result.DEFERRED, "blocked"),
        ]
        actions.record_outcomes(session, outcomes=outcomes)
        assert (
            jobs.end_batch(session, job_id=job_id, lease=lease, wake_at=None, waiting_for=None)
            is JobStatus.FOLLOWS
        )
        statuses = dict(session.execute(select(ActionRecord.target, ActionRecord.status)).tuples().all())
        assert statuses == {"u0": ActionStatus.DONE, "u1": ActionStatus.UNKNOWN}  # the deferred intent went
        assert graph.current_edges(session, account_id=account_id, kind=graph.FOLLOWING, user_ids=["u0"]) == {
            "u0"
        }
    second = Lease(30)
    _claim(sessions, second)
    with sessions.begin() as session:
        again = actions.next_items(session, job_id=job_id, lease=second, limit=10)
    assert {i.user_id: i.check_first for i in again} == {"u1": True, "u2": False, "u3": False}
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        assert (job.done, job.batches) == (1, 1)
        stat = session.scalar(select(DailyStat))
        assert (stat.action, stat.done) == ("follow", 1)


def test_a_crash_leaves_acting_targets_whose_pending_intents_are_checked_first(sessions: Sessions) -> None:
    account_id = _account(sessions)
    job_id = _follow_job(sessions, account_id, _users(2))
    lost = Lease(1)
    now = utcnow()
    _claim(sessions, lost, now=now)
    with sessions.begin() as session:
        actions.next_items(session, job_id=job_id, lease=lost, limit=10, now=now)  # then the worker dies
    taker = Lease(30)
    assert _claim(sessions, taker, now=now + timedelta(seconds=5)).batch_no == 1
    with sessions.begin() as session:
        items = actions.next_items(session, job_id=job_id, lease=taker, limit=10)
    assert [i.check_first for i in items] == [True, True]


def test_the_same_target_in_two_jobs_is_acted_on_once(sessions: Sessions) -> None:
    account_id = _account(sessions, recent_days=0)
    first_job = _follow_job(sessions, account_id, _users(2))
    second_job = _follow_job(sessions, account_id, _users(2))
    one, two = Lease(30), Lease(30)
    _claim(sessions, one)
    _claim(sessions, two)
    with sessions.begin() as session:
        first = actions.next_items(session, job_id=first_job, lease=one, limit=10)
        actions.record_outcomes(session, outcomes=[ActionOutcome(first[0], Result.DONE)])
    with sessions.begin() as session:
        second = actions.next_items(session, job_id=second_job, lease=two, limit=10)
        assert second == []  # u0 done before, u1 held pending by the first job
        reasons = dict(
            session.execute(select(Target.target, Target.reason).where(Target.job_id == second_job))
            .tuples()
            .all()
        )
    assert reasons == {"u0": "done before", "u1": f"job {first_job} is acting on it"}


def test_blacklisted_and_recently_acted_on_users_are_skipped_with_the_reason(sessions: Sessions) -> None:
    account_id = _account(sessions, blacklist=["user1"], recent_days=30)
    with sessions.begin() as session:
        session.add(
            ActionRecord(
                account_id=account_id,
                action=Action.LIKE,
                target="post-9",
                user_id="u2",
                username="user2",
                status=ActionStatus.DONE,
                done_at=utcnow() - timedelta(days=3),
            )
        )
    job_id = _follow_job(sessions, account_id, _users(3))
    lease = Lease(30)
    _claim(sessions, lease)
    with sessions.begin() as session:
        items = actions.next_items(session, job_id=job_id, lease=lease, limit=10)
        assert [i.user_id for i in items] == ["u0"]
        assert reports.skip_reasons(session, account_id=account_id) == {
            "blacklisted": 1,
            "acted on within 30 days": 1,
        }
        assert session.get(Job, job_id).skipped == 2


def test_unknown_outcomes_are_given_up_after_three_tries(sessions: Sessions) -> None:
    account_id = _account(sessions)
    job_id = _follow_job(sessions, account_id, _users(1))
    for _ in range(actions.MAX_TRIES):
        lease = Lease(30)
        _claim(sessions, lease)
        with sessions.begin() as session:
            (item,) = actions.next_items(session, job_id=job_id, lease=lease, limit=10)
            actions.record_outcomes(session, outcomes=[ActionOutcome(item, Result.UNKNOWN, "timed out")])
            status = jobs.end_batch(session, job_id=job_id, lease=lease, wake_at=None, waiting_for=None)
    assert status is JobStatus.PROCESSED
    with sessions.begin() as session:
        target = session.scalar(select(Target))
        assert target.status is TargetStatus.FAILED and "unknown after 3 tries" in target.reason


def _turn(
    sessions: Sessions, item: actions.ActionItem, lease: Lease, now: datetime, **kw: object
) -> actions.Turn:
    with sessions.begin() as session:
        return actions.take_turn(session, item=item, lease=lease, rng=random.Random(1), now=now, **kw)


def _one_item(sessions: Sessions, account_id: int, count: int = 1) -> tuple[list[actions.ActionItem], Lease]:
    job_id = _follow_job(sessions, account_id, _users(count))
    lease = Lease(600)
    _claim(sessions, lease)
    with sessions.begin() as session:
        return actions.next_items(session, job_id=job_id, lease=lease, limit=count), lease


def test_turns_are_paced_with_a_random_delay_within_the_bounds(sessions: Sessions) -> None:
    account_id = _account(sessions, min_delay=30, max_delay=70)
    (item,), lease = _one_item(sessions, account_id)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    first = _turn(sessions, item, lease, now)
    second = _turn(sessions, item, lease, now)
    assert first.go_at == now
    assert timedelta(seconds=30) <= second.go_at - now <= timedelta(seconds=70)


def test_quotas_hold_per_hour_and_changed_quotas_apply_at_once(sessions: Sessions) -> None:
    account_id = _account(sessions, follow_quota={"per_hour": 2, "per_day": 3})
    (item,), lease = _one_item(sessions, account_id)
    now = datetime(2026, 12, 1, 12, 10, tzinfo=UTC)
    assert [_turn(sessions, item, lease, now).refusal for _ in range(3)] == [None, None, "follow quota spent"]
    refused = _turn(sessions, item, lease, now)
    assert refused.wake_at == datetime(2026, 12, 1, 13, tzinfo=UTC)
    next_hour = now + timedelta(hours=1)
    assert _turn(sessions, item, lease, next_hour).refusal is None
    assert _turn(sessions, item, lease, next_hour).refusal == "follow quota spent"  # 3 a day
    with sessions.begin() as session:
        account = session.get(Account, account_id)
        changed = accounts.account_settings(account).model_copy(
            update={"follow_quota": Quota(per_hour=10, per_day=10)}
        )
        accounts.change_account(session, account=account, settings=changed)
    assert _turn(sessions, item, lease, next_hour).refusal is None
    with sessions.begin() as session:
        use = {u.action: u for u in reports.quota_use(session, account_id=account_id, now=next_hour)}
    assert (use["follow"].hour_used, use["follow"].day_used, use["follow"].day_limit) == (2, 4, 10)


def test_a_block_freezes_the_action_for_every_batch_with_one_notice(sessions: Sessions) -> None:
    account_id = _account(sessions)
    (item,), lease = _one_item(sessions, account_id)
    now = utcnow()
    with sessions.begin() as session:
        until = actions.freeze(
            session,
            account_id=account_id,
            action=Action.FOLLOW,
            hours=24,
            reason="feedback_required",
            now=now,
        )
        assert (
            actions.freeze(
                session, account_id=account_id, action=Action.FOLLOW, hours=24, reason="again", now=now
            )
            == until
        )
    turn = _turn(sessions, item, lease, now + timedelta(minutes=1))
    assert turn.refusal.startswith("follow blocked") and turn.wake_at == until
    with sessions.begin() as session:
        assert len(accounts.list_notices(session, owner="anna")) == 1
        assert actions.gate(session, item=item, lease=lease, now=until + timedelta(seconds=1)).refusal is None


def test_a_challenge_stops_the_account_and_outside_hours_waits_for_their_start(sessions: Sessions) -> None:
    account_id = _account(sessions, work_from=time(9), work_until=time(17))
    (item,), lease = _one_item(sessions, account_id)
    evening = datetime(2026, 12, 1, 18, tzinfo=UTC)
    turn = _turn(sessions, item, lease, evening)
    assert turn.refusal == "outside working hours" and turn.wake_at == datetime(2026, 12, 2, 9, tzinfo=UTC)
    with sessions.begin() as session:
        assert actions.needs_attention(session, account_id=account_id, reason="challenge_required")
        assert not actions.needs_attention(session, account_id=account_id, reason="again")
    assert _turn(sessions, item, lease, evening.replace(hour=10)).refusal == "the account is needs attention"
    with sessions.begin() as session:
        assert session.get(Account, account_id).state is AccountState.NEEDS_ATTENTION
        assert _claim(sessions, Lease(30)) is None  # its jobs are not claimed either


def test_a_paused_job_is_not_acted_on_and_resumes_where_it_was(sessions: Sessions) -> None:
    account_id = _account(sessions)
    items, lease = _one_item(sessions, account_id, 2)
    with sessions.begin() as session:
        assert jobs.pause_job(session, job_id=items[0].job_id)
    assert _turn(sessions, items[0], lease, utcnow()).refusal == "the job was paused or taken over"
    with sessions.begin() as session:
        actions.record_outcomes(
            session, outcomes=[ActionOutcome(i, Result.DEFERRED, "paused") for i in items]
        )
        assert jobs.resume_job(session, job_id=items[0].job_id)
        assert session.get(Job, items[0].job_id).status is JobStatus.FOLLOWS
    assert _claim(sessions, Lease(30)).id == items[0].job_id


def test_like_jobs_open_once_per_interval_for_accounts_with_likes_on(sessions: Sessions) -> None:
    on = _account(sessions, "on")
    off = _account(sessions, "off")
    with sessions.begin() as session:
        session.get(Account, off).likes_on = False
    now = utcnow()
    with sessions.begin() as session:
        (job_id,) = jobs.open_like_jobs(session, wanted=4, every_minutes=30, now=now)
        assert session.get(Job, job_id).account_id == on
        assert jobs.open_like_jobs(session, wanted=4, every_minutes=30, now=now) == []  # one is open
        jobs.fail(session, job_id=job_id, error="test")
        assert jobs.open_like_jobs(session, wanted=4, every_minutes=30, now=now + timedelta(minutes=10)) == []
        assert (
            len(jobs.open_like_jobs(session, wanted=4, every_minutes=30, now=now + timedelta(minutes=31)))
            == 1
        )


def test_unfollow_only_users_followed_here_after_the_days_and_never_the_whitelist(sessions: Sessions) -> None:
    account_id = _account(
        sessions,
        unfollow_after_days=7,
        unfollow_policy=UnfollowPolicy.NOT_FOLLOWING_BACK,
        whitelist=["user3"],
    )
    now = utcnow()
    with sessions.begin() as session:
        graph.store_edges(session, account_id=account_id, kind=graph.FOLLOWING, users=_users(6), seen_at=now)
        graph.store_edges(
            session, account_id=account_id, kind=graph.FOLLOWER, users=_users(1, 1), seen_at=now
        )
        for n, days in ((0, 8), (1, 8), (2, 2), (3, 8)):  # u4, u5 were followed elsewhere: never unfollowed
            session.add(
                ActionRecord(
                    account_id=account_id,
                    action=Action.FOLLOW,
                    target=f"u{n}",
                    user_id=f"u{n}",
                    username=f"user{n}",
                    status=ActionStatus.DONE,
                    done_at=now - timedelta(days=days),
                )
            )
    with sessions.begin() as session:
        settings = accounts.account_settings(session.get(Account, account_id))
        chosen = jobs.unfollow_targets(session, account_id=account_id, settings=settings, limit=10, now=now)
        assert [t.user_id for t in chosen] == ["u0"]  # u1 follows back, u2 too recent, u3 whitelisted
        everyone = settings.model_copy(update={"unfollow_policy": UnfollowPolicy.AFTER_DAYS})
        chosen = jobs.unfollow_targets(session, account_id=account_id, settings=everyone, limit=10, now=now)
        assert sorted(t.user_id for t in chosen) == ["u0", "u1"]
        (job_id,) = jobs.open_unfollow_jobs(session, per_job=10, now=now)
        assert session.get(Job, job_id).status is JobStatus.FOLLOWS
        assert jobs.open_unfollow_jobs(session, per_job=10, now=now) == []  # one is open


def test_the_job_logic_keeps_changes_over_the_settings_and_refuses_bad_values(sessions: Sessions) -> None:
    with sessions.begin() as session:
        assert config.job_logic(session).followers_per_like_job == 4
        config.change_job_logic(session, follow_batch=5)
    with sessions.begin() as session:
        logic = config.job_logic(session)
        assert (logic.follow_batch, logic.followers_per_like_job) == (5, 4)
    with pytest.raises(ValueError), sessions.begin() as session:
        config.change_job_logic(session, follow_batch=-1)
    with sessions.begin() as session:
        assert config.job_logic(session).follow_batch == 5


def test_secrets_rotate_to_a_new_key_and_stay_readable(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.crypto import new_key
    from core.settings import DEV_SECRET_KEY, get_settings

    account_id = _account(sessions)
    key = new_key()
    monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", f"{key},{DEV_SECRET_KEY}")
    get_settings.cache_clear()
    try:
        with sessions.begin() as session:
            assert accounts.rotate_secrets(session) == 1
        monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", key)
        get_settings.cache_clear()
        with sessions.begin() as session:
            assert accounts.login_of(session, account_id=account_id).session == "secret-session-of-bakery"
    finally:
        monkeypatch.delenv("SWITCHYARD_SECRET_KEYS")
        get_settings.cache_clear()
