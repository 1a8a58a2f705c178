"""``python -m cli growth …`` and ``… secrets …`` on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from cli.app import app
from core.crypto import Cipher
from core.settings import DEV_SECRET_KEY, get_settings
from db.base import utcnow
from db.growth import accounts as accounts_db
from db.growth import jobs as jobs_db
from db.growth.actions import add_daily, freeze
from db.growth.config import job_logic
from db.growth.graph import store_account_profile
from db.growth.jobs import NewTarget
from db.growth.models import Account, Cooldown, Job, LogicConfig, Notice
from rules.growth import AccountSettings, AccountState, Action, FollowSource, JobKind, JobStatus, Profile
from sandbox.network import CATALOG, LOCATIONS
from tests.conftest import set_env

Sessions = sessionmaker[Session]
Run = Callable[..., Result]
SECRET = "session-token-that-must-never-show"
PASSWORD = "sandbox-password"  # every account of the sandbox's network has it


@pytest.fixture
def run(sessions: Sessions) -> Run:
    runner = CliRunner()
    return lambda *args, input=None: runner.invoke(app, list(args), input=input)


@pytest.fixture
def alice(sessions: Sessions) -> int:
    """A connected account with counts, a day's stats, a block, a follow job with skips and notices."""
    now = utcnow()
    with sessions.begin() as session:
        account = accounts_db.add_account(
            session,
            owner="ann",
            username="alice",
            user_id="u-alice",
            session_secret=SECRET,
            timezone="Europe/Moscow",
            settings=AccountSettings(),
        )
        accounts_db.change_account(session, account=account, likes_on=True)
        for days, followers in ((1, 100), (0, 120)):
            profile = Profile("u-alice", "alice", followers=followers, followings=80, posts=3)
            store_account_profile(
                session, account_id=account.id, profile=profile, now=now - timedelta(days=days)
            )
        job = jobs_db.create_job(
            session,
            account_id=account.id,
            kind=JobKind.FOLLOW,
            wanted=2,
            source=FollowSource.HASHTAG,
            target="cats",
        )
        targets = [NewTarget("u1", "u1", "carol"), NewTarget("u2", "u2", "dave", reason="private")]
        jobs_db.add_targets(session, job_id=job.id, targets=targets, now=now)
        jobs_db.transition(session, job_ids=[job.id], to=JobStatus.FOLLOWS, from_=[JobStatus.ADDED])
        add_daily(session, account_id=account.id, action="follow", now=now, done=4, skipped=1)
        freeze(session, account_id=account.id, action=Action.FOLLOW, hours=24, reason="feedback_required")
        accounts_db.notify(session, account_id=account.id, level="info", text="job done")
        return account.id


def refused(result: Result, message: str) -> None:
    """Exit 2 with a one-line message."""
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_accounts_lists_switches_state_counts_jobs_and_blocks(run: Run, alice: int) -> None:
    result = run("growth", "accounts")

    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split()[:5] == ["id", "account", "owner", "on", "state"]
    assert row.split()[:8] == [str(alice), "@alice", "ann", "likes", "active", "120", "80", "-"]
    assert "follow until" in row and SECRET not in result.output
    assert run("growth", "accounts", "--owner", "nobody").output.splitlines()[1:] == []


def test_jobs_and_a_jobs_candidates(run: Run, alice: int, sessions: Sessions) -> None:
    with sessions.begin() as session:
        job_id = session.scalar(select(Job.id))
    listed = run("growth", "jobs", "alice", "--open")
    assert listed.exit_code == 0, listed.output
    row = listed.output.splitlines()[1]
    assert row.startswith(f"{job_id}  ") and "follow 2 from hashtag cats" in row and "0/2" in row
    candidates = run("growth", "jobs", "--job", str(job_id), "--status", "skipped")
    assert candidates.output.splitlines()[1].split() == ["2", "@dave", "skipped", "private", "0"]
    refused(run("growth", "jobs", "--job", "999"), "there is no growth job 999")
    refused(run("growth", "jobs", "--job", str(job_id), "--status", "weird"), "unknown status 'weird'")
    refused(run("growth", "jobs", "nobody"), "there is no connected account 'nobody'")


def test_settings_change_one_bound_switches_and_timezone(run: Run, alice: int, sessions: Sessions) -> None:
    result = run(
        "growth", "settings", "@alice", "--set", "like_quota.per_hour=10", "--set", "skip.max_followers=none",
        "--set", "blacklist=spam.bot,Troll", "--set", "work_from=09:00", "--set", "work_until=21:30",
        "--timezone", "Asia/Tokyo", "--follows", "--no-likes",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "@alice: timezone Asia/Tokyo; likes off, follows on, unfollows off" in result.output
    assert "like_quota: per_hour=10, per_day=585" in result.output
    with sessions.begin() as session:
        account = session.get(Account, alice)
        settings = accounts_db.account_settings(account)
        assert (account.timezone, account.likes_on, account.follows_on) == ("Asia/Tokyo", False, True)
    assert settings.like_quota.per_hour == 10 and settings.like_quota.per_day == 585
    assert settings.skip.max_followers is None and settings.skip.max_followings == 7_500
    assert settings.blacklist == ("spam.bot", "troll") and settings.work_from.hour == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "min_delay=90"], "max_delay (70 s) is below min_delay (90 s)"),
        (["--set", "like_qota.per_hour=1"], "like_qota: Extra inputs are not permitted"),
        (["--set", "blacklist=ok,not a name!"], "not a username"),
        (
            ["--set", "like_quota.per_hour=-1"],
            "like_quota.per_hour: Input should be greater than or equal to 0",
        ),
        (["--set", "oops"], "not NAME=VALUE: 'oops'"),
        (["--set", "recent_days=3", "--timezone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
    ],
)
def test_bad_settings_exit_2_and_store_nothing(
    run: Run, alice: int, sessions: Sessions, args: list[str], message: str
) -> None:
    with sessions.begin() as session:
        before = session.get(Account, alice)
        stored = (dict(before.settings), before.timezone)
    refused(run("growth", "settings", "alice", *args), message)
    with sessions.begin() as session:
        after = session.get(Account, alice)
        assert (after.settings, after.timezone) == stored


def test_pause_resume_an_account_and_a_job(run: Run, alice: int, sessions: Sessions) -> None:
    with sessions.begin() as session:
        job_id = session.scalar(select(Job.id))
    assert run("growth", "pause", "alice").output == "alice paused\n"
    with sessions.begin() as session:
        assert session.get(Account, alice).state is AccountState.PAUSED
    assert run("growth", "resume", str(alice)).output == f"{alice} resumed\n"
    assert run("growth", "pause", "--job", str(job_id)).output == f"job {job_id} paused\n"
    assert (
        run("growth", "pause", "--job", str(job_id)).output == f"job {job_id} is not open: nothing to pause\n"
    )
    resumed = run("growth", "resume", "--job", str(job_id)).output
    assert resumed.startswith(f"job {job_id} resumed\nJob {job_id} is stored")  # and what starts it
    with sessions.begin() as session:
        assert session.get(Job, job_id).status is JobStatus.FOLLOWS
        assert session.get(Account, alice).state is AccountState.ACTIVE
    refused(run("growth", "pause"), "give an account or --job N")
    refused(run("growth", "pause", "alice", "--job", "1"), "give an account or --job N")
    refused(run("growth", "resume", "--job", "999"), "there is no growth job 999")
    refused(run("growth", "pause", "nobody"), "there is no connected account 'nobody'")


def test_an_account_that_needs_attention_is_not_paused(run: Run, alice: int, sessions: Sessions) -> None:
    with sessions.begin() as session:
        accounts_db.set_state(session, account_id=alice, state=AccountState.NEEDS_ATTENTION, reason="login")
    refused(run("growth", "pause", "alice"), "alice needs attention: resume it with its password instead")
    with sessions.begin() as session:
        assert session.get(Account, alice).state is AccountState.NEEDS_ATTENTION


def test_lift_a_block(run: Run, alice: int, sessions: Sessions) -> None:
    assert run("growth", "lift", "alice", "follow").output == "follow of alice unblocked\n"
    assert run("growth", "lift", "alice", "follow").output == "alice had no follow block\n"
    refused(run("growth", "lift", "alice", "poke"), "unknown action 'poke'")
    with sessions.begin() as session:
        assert session.scalars(select(Cooldown)).all() == []


def test_likes_makes_one_like_job(run: Run, alice: int, sessions: Sessions) -> None:
    made = run("growth", "likes", "alice")
    assert made.exit_code == 0 and "@alice will like posts of 4 followers" in made.output
    refused(run("growth", "likes", "alice"), "@alice has an open like job already")
    with sessions.begin() as session:
        session.execute(delete(Job).where(Job.kind == JobKind.LIKE))
    assert run("growth", "pause", "alice").exit_code == 0
    refused(run("growth", "likes", "alice"), "@alice is paused: resume it first")
    assert run("growth", "settings", "alice", "--no-likes").exit_code == 0
    refused(run("growth", "likes", "alice"), "likes are off for @alice: switch them on first")
    with sessions.begin() as session:
        assert session.scalars(select(Job.kind).where(Job.kind == JobKind.LIKE)).all() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alice", "x", "--by", "planet"], "unknown source 'planet'"),
        (["alice", "Paris", "--by", "location"], "a location is its numeric id: 'Paris'"),
        (["alice", "cats", "--by", "hashtag", "--count", "0"], "count must be 1–10000"),
        (["alice", "not a name!", "--by", "account"], "not a username"),
        (["nobody", "cats", "--by", "hashtag"], "there is no connected account 'nobody'"),
    ],
)
def test_follow_refuses_bad_input_and_stores_nothing(
    run: Run, alice: int, sessions: Sessions, args: list[str], message: str
) -> None:
    refused(run("growth", "follow", *args), message)
    with sessions.begin() as session:
        assert len(session.scalars(select(Job)).all()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not a name!", "--owner", "ann", "--password", "pw"], "not a username"),
        (["carol", "--owner", "ann", "--password", "pw", "--timezone", "Mars/Base"], "unknown time zone"),
        (["carol", "--owner", " ", "--password", "pw"], "the owner is empty"),
    ],
)
def test_add_refuses_bad_input_and_stores_nothing(
    run: Run, sessions: Sessions, args: list[str], message: str
) -> None:
    refused(run("growth", "add", *args), message)
    with sessions.begin() as session:
        assert session.scalars(select(Account)).all() == []


def test_add_prompts_for_the_password_hidden(run: Run, sessions: Sessions) -> None:
    result = run("growth", "add", "not a name!", "--owner", "ann", input="typed-secret\n")

    assert result.exit_code == 2 and "not a username" in result.output
    assert "Password:" in result.output and "typed-secret" not in result.output
    with sessions.begin() as session:
        assert session.scalars(select(Account)).all() == []


def test_notices_unread_first_and_marked_read(run: Run, alice: int, sessions: Sessions) -> None:
    listed = run("growth", "notices", "--owner", "ann", "--read")

    assert listed.exit_code == 0, listed.output
    rows = listed.output.splitlines()[1:]
    assert rows[-1] == "2 marked read"
    assert len(rows) == 3 and all(" unread " in row and "@alice" in row for row in rows[:-1])
    again = run("growth", "notices").output.splitlines()[1:]
    assert len(again) == 2 and all(" read " in row for row in again)
    with sessions.begin() as session:
        assert session.scalars(select(Notice).where(Notice.read_at.is_(None))).all() == []


def test_stats(run: Run, alice: int) -> None:
    result = run("growth", "stats", "alice")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "@alice: actions per day (its timezone)"
    assert lines[2].split()[1:] == ["follow", "4", "0", "1", "300"]
    quota = {
        line.split()[0]: line.split()[1:] for line in lines if line.startswith(("like ", "follow ", "calls "))
    }
    assert quota["follow"] == ["0", "48", "0", "300"] and quota["calls"] == ["0", "-", "0", "4700"]
    counts = [line.split()[-3:] for line in lines if line.endswith(" 3") and "UTC" in line]
    assert counts == [["100", "80", "3"], ["120", "80", "3"]]
    assert "private  1" in result.output
    refused(run("growth", "stats", "nobody"), "there is no connected account 'nobody'")


def test_logic_shows_and_changes_the_knobs(run: Run, sessions: Sessions) -> None:
    shown = run("growth", "logic")
    assert shown.exit_code == 0 and "followers_per_like_job: 4" in shown.output

    changed = run("growth", "logic", "--set", "follow_batch=5", "--set", "block_hours=2.5")
    assert (
        changed.exit_code == 0
        and "follow_batch: 5" in changed.output
        and "block_hours: 2.5" in changed.output
    )
    refused(run("growth", "logic", "--set", "follow_batch=0"), "follow_batch: Input should be greater than")
    refused(run("growth", "logic", "--set", "nope=1"), "unknown job logic settings: nope")
    with sessions.begin() as session:
        logic = job_logic(session)
        assert session.scalars(select(LogicConfig)).one()
    assert (logic.follow_batch, logic.block_hours) == (5, 2.5)


def test_secrets_new_key_and_rotate(
    run: Run, alice: int, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:

    key = run("secrets", "new-key").output.strip()
    assert Cipher([key]).decrypt(Cipher([key]).encrypt("x")) == "x"

    monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", f"{key},{DEV_SECRET_KEY}")
    get_settings.cache_clear()
    try:
        rotated = run("secrets", "rotate")
        assert (
            rotated.exit_code == 0 and rotated.output == "1 stored secrets re-encrypted with the first key\n"
        )
        with sessions.begin() as session:
            token = session.get(Account, alice).session_secret
        assert Cipher([key]).decrypt(token) == SECRET and SECRET not in token
    finally:
        monkeypatch.delenv("SWITCHYARD_SECRET_KEYS")
        get_settings.cache_clear()


# --- against the sandbox's photo network ------------------------------------------------------------


@pytest.fixture
def network(sandbox_url: str, sessions: Sessions) -> Iterator[str]:
    """The network's base URL on the test sandbox (its overlay reset), no Prefect server; restored after."""
    base_url = f"{sandbox_url}/network"
    httpx.post(f"{base_url}/_control/reset").raise_for_status()
    saved = dict(os.environ)
    set_env({"SWITCHYARD_NETWORK__BASE_URL": base_url, "SWITCHYARD_NETWORK__READ_TIMEOUT": "2"})
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield base_url
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_add_logs_in_on_the_network_and_stores_the_session_encrypted(
    run: Run, network: str, sessions: Sessions
) -> None:
    result = run("growth", "add", "@Demo_Bakery", "--owner", "ann", "--timezone", "Europe/Moscow", "--likes",
                 input=f"{PASSWORD}\n")  # fmt: skip

    assert result.exit_code == 0, result.output
    with sessions.begin() as session:
        (account,) = session.scalars(select(Account)).all()
        login = accounts_db.login_of(session, account_id=account.id)
    bakery = CATALOG["demo_bakery"]
    assert (account.username, account.user_id, account.owner) == ("demo_bakery", str(bakery.pk), "ann")
    assert account.likes_on and not account.follows_on and account.timezone == "Europe/Moscow"
    assert login.session and login.session not in account.session_secret
    assert f"account {account.id}: @demo_bakery connected" in result.output
    assert "no Prefect server is configured" in result.output  # the scheduled sync does it
    assert login.session not in result.output and PASSWORD not in result.output
    refused(
        run("growth", "add", "demo_bakery", "--owner", "ann", "--password", PASSWORD), "connected already"
    )


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("demo_gallery", "wrong-password", "login of demo_gallery: the password was refused"),
        ("nobody_here_at_all", PASSWORD, "login of nobody_here_at_all: no such user"),
    ],
)
def test_add_refused_by_the_network_stores_nothing(
    run: Run, network: str, sessions: Sessions, username: str, password: str, message: str
) -> None:
    result = run("growth", "add", username, "--owner", "ann", "--password", password)

    refused(result, message)
    assert password not in result.output
    with sessions.begin() as session:
        assert session.scalars(select(Account)).all() == []


@pytest.fixture
def bakery(run: Run, network: str) -> str:
    """demo_bakery connected through the CLI."""
    assert run("growth", "add", "demo_bakery", "--owner", "ann", "--password", PASSWORD).exit_code == 0
    return "demo_bakery"


@pytest.mark.parametrize(
    ("by", "target", "stored"),
    [
        ("account", "@Corner_Shop", "corner_shop"),
        ("hashtag", "#Coffee", "coffee"),
        ("location", str(LOCATIONS[0].pk), str(LOCATIONS[0].pk)),
    ],
)
def test_follow_checks_the_target_on_the_network_and_stores_the_job(
    run: Run, bakery: str, sessions: Sessions, by: str, target: str, stored: str
) -> None:
    result = run("growth", "follow", bakery, "--by", by, target, "--count", "7")

    assert result.exit_code == 0, result.output
    with sessions.begin() as session:
        (job,) = session.scalars(select(Job)).all()
    assert (job.kind, job.source, job.target, job.wanted, job.status) == (
        JobKind.FOLLOW, FollowSource(by), stored, 7, JobStatus.ADDED,
    )  # fmt: skip
    assert f"job {job.id}: @demo_bakery will follow 7 from {by} {stored}" in result.output


@pytest.mark.parametrize(
    ("by", "target", "message"),
    [
        ("account", "private_person", "@private_person is private: its followers cannot be listed"),
        ("account", "no_such_user_zz", "there is no account 'no_such_user_zz' on the network"),
        ("location", "999", "there is no location '999' on the network"),
    ],
)
def test_follow_refused_by_the_network_stores_nothing(
    run: Run, bakery: str, sessions: Sessions, by: str, target: str, message: str
) -> None:
    refused(run("growth", "follow", bakery, "--by", by, target), message)
    with sessions.begin() as session:
        assert session.scalars(select(Job)).all() == []


def test_resume_logs_an_account_that_needs_attention_in_again(
    run: Run, bakery: str, sessions: Sessions
) -> None:
    with sessions.begin() as session:
        account = session.scalars(select(Account)).one()
        account_id, before = account.id, account.session_secret
        accounts_db.set_state(
            session, account_id=account_id, state=AccountState.NEEDS_ATTENTION, reason="login"
        )

    refused(run("growth", "resume", bakery, "--password", "wrong-password"), "the password was refused")
    with sessions.begin() as session:
        assert session.get(Account, account_id).state is AccountState.NEEDS_ATTENTION
    resumed = run("growth", "resume", bakery, input=f"{PASSWORD}\n")
    assert resumed.exit_code == 0 and "demo_bakery resumed" in resumed.output, resumed.output
    assert "needs attention (login)" in resumed.output and PASSWORD not in resumed.output
    with sessions.begin() as session:
        account = session.get(Account, account_id)
        assert account.state is AccountState.ACTIVE and account.session_secret != before
