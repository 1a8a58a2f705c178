"""The Growth page under AppTest, on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from core.settings import get_settings
from db.base import utcnow
from db.growth import accounts as accounts_db
from db.growth import jobs as jobs_db
from db.growth.actions import add_daily, freeze
from db.growth.graph import store_account_profile
from db.growth.jobs import NewTarget
from db.growth.models import Account, Job, Notice
from rules.growth import AccountSettings, AccountState, Action, FollowSource, JobKind, JobStatus, Profile
from tests.conftest import set_env

Sessions = sessionmaker[Session]
GROWTH = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "growth.py"
SECRET = "session-token-that-must-never-show"
PASSWORD = "sandbox-password"  # every account of the sandbox's network has it


def add(session: Session, username: str, owner: str = "ann", **settings: object) -> int:
    account = accounts_db.add_account(
        session,
        owner=owner,
        username=username,
        user_id=f"u-{username}",
        session_secret=SECRET,
        timezone="Europe/Moscow",
        settings=AccountSettings.model_validate(settings),
    )
    return account.id


@pytest.fixture
def seeded(sessions: Sessions) -> dict[str, int]:
    """Two accounts of two owners; alice has a block, counts, stats, a follow job with skips, notices."""
    now = utcnow()
    with sessions.begin() as session:
        alice = add(session, "alice", min_delay=5, max_delay=9)
        bob = add(session, "bob", owner="ben")
        accounts_db.change_account(
            session, account=session.get(Account, alice), likes_on=True, follows_on=True
        )
        for days, followers in ((2, 100), (1, 110), (0, 125)):
            profile = Profile("u-alice", "alice", followers=followers, followings=80, posts=12)
            store_account_profile(session, account_id=alice, profile=profile, now=now - timedelta(days=days))
        job = jobs_db.create_job(
            session,
            account_id=alice,
            kind=JobKind.FOLLOW,
            wanted=3,
            source=FollowSource.HASHTAG,
            target="cats",
        )
        jobs_db.add_targets(
            session,
            job_id=job.id,
            targets=[
                NewTarget("u1", "u1", "carol"),
                NewTarget("u2", "u2", "dave", reason="private"),
                NewTarget("u3", "u3", "erin", reason="no posts"),
                NewTarget("u4", "u4", "fred", reason="private"),
            ],
            now=now,
        )
        jobs_db.transition(session, job_ids=[job.id], to=JobStatus.FOLLOWS, from_=[JobStatus.ADDED])
        add_daily(session, account_id=alice, action="follow", now=now, done=7, skipped=3)
        freeze(session, account_id=alice, action=Action.LIKE, hours=24, reason="feedback_required")
        accounts_db.notify(session, account_id=alice, level="info", text="job done")
        accounts_db.notify(session, account_id=bob, level="error", text="bob needs a look")
    return {"alice": alice, "bob": bob, "job": job.id}


def page() -> AppTest:
    return AppTest.from_file(GROWTH, default_timeout=60).run()


def button(at: AppTest, label: str) -> Button:
    return next(widget for widget in at.button if widget.label == label)


def texts(at: AppTest) -> str:
    """Every text the page shows: notes, markdown, captions and tables, to look for secrets."""
    shown = [element.value for kind in ("success", "info", "warning", "error", "markdown", "caption")
             for element in at.get(kind)]  # fmt: skip
    shown += [frame.value.to_csv() for frame in at.dataframe]
    return "\n".join(str(text) for text in shown)


def test_the_page_renders_with_no_accounts(sessions: Sessions) -> None:
    at = page()

    assert not at.exception
    assert at.title[0].value == "Growth"
    assert "No connected account yet" in at.info[0].value
    assert any(button.label == "Add account" for button in at.button)
    assert at.number_input(key="logic-followers_per_like_job").value == 4


def test_accounts_jobs_stats_and_notices_are_shown(seeded: dict[str, int]) -> None:
    at = page()

    assert not at.exception
    accounts = at.dataframe[0].value
    assert list(accounts["username"]) == ["@alice", "@bob"]
    alice = accounts.iloc[0]
    assert (alice["likes"], alice["follows"], alice["unfollows"]) == (True, True, False)
    assert alice["state"] == "active" and alice["followers"] == 125 and alice["open jobs"] == 1
    assert alice["blocks"].startswith("like until ") and "feedback_required" in alice["blocks"]
    assert at.toggle(key=f"likes_on-{seeded['alice']}").value is True
    assert any("Blocked: like until" in warning.value for warning in at.warning)

    jobs = at.dataframe[1].value
    assert list(jobs["id"]) == [seeded["job"]]
    job = jobs.iloc[0]
    assert job["status"] == "follows" and job["done / wanted"] == "0 / 3"
    assert (job["pending"], job["skipped"]) == (1, 3)
    candidates = at.dataframe[2].value
    assert list(candidates["username"]) == ["@carol", "@dave", "@erin", "@fred"]
    assert list(candidates["why"]) == ["", "private", "no posts", "private"]

    assert len(at.get("vega_lite_chart")) == 2  # followers over time, actions per day
    quota = at.dataframe[3].value.set_index("action")
    assert quota.loc["follow", "per day"] == 300 and quota.loc["calls", "per day"] == 4_700
    actions = at.dataframe[4].value
    assert list(actions["action"]) == ["follow"] and list(actions["done"]) == [7]
    skips = at.dataframe[5].value
    assert dict(zip(skips["reason"], skips["candidates"], strict=True)) == {"private": 2, "no posts": 1}

    notices = at.dataframe[6].value
    assert set(notices["text"]) >= {"job done", "bob needs a look"} and not notices["read"].any()
    assert SECRET not in texts(at)


def test_candidates_filter_by_status(seeded: dict[str, int]) -> None:
    at = page()
    at.selectbox(key=f"targets-{seeded['job']}").select("skipped").run()

    assert not at.exception
    assert list(at.dataframe[2].value["username"]) == ["@dave", "@erin", "@fred"]


def test_settings_are_saved_all_together(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    key = f"settings-{seeded['alice']}"
    at.number_input(key=f"{key}-like_quota-hour").set_value(10)
    at.number_input(key=f"{key}-max-delay").set_value(20.0)
    at.text_area(key=f"{key}-blacklist").input("@Spam.Bot\ntroll")
    at.text_input(key=f"{key}-timezone").input("Asia/Tokyo")
    button(at, "Save settings").click().run()

    assert not at.exception
    assert "Settings of @alice saved" in at.success[0].value
    with sessions.begin() as session:
        account = session.get(Account, seeded["alice"])
        settings = accounts_db.account_settings(account)
        assert account.timezone == "Asia/Tokyo"
    assert settings.like_quota.per_hour == 10 and settings.like_quota.per_day == 585
    assert settings.max_delay == 20 and settings.min_delay == 5
    assert settings.blacklist == ("spam.bot", "troll")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min-delay", 30.0, "max_delay (9 s) is below min_delay (30 s)"),
        ("blacklist", "good_one\nnot a name!", "not a username"),
        ("timezone", "Mars/Base", "unknown time zone 'Mars/Base'"),
        ("min-followers", 20_000, "max_followers (10000) is below min_followers (20000)"),
    ],
)
def test_bad_settings_show_an_error_and_store_nothing(
    seeded: dict[str, int], sessions: Sessions, field: str, value: object, message: str
) -> None:
    with sessions.begin() as session:
        before = session.get(Account, seeded["alice"])
        stored = (dict(before.settings), before.timezone)
    at = page()
    key = f"settings-{seeded['alice']}"
    at.number_input(key=f"{key}-like_quota-day").set_value(1)  # a good change beside the bad one
    widget = {"blacklist": at.text_area, "timezone": at.text_input}.get(field, at.number_input)
    widget(key=f"{key}-{field}").set_value(value)
    button(at, "Save settings").click().run()

    assert not at.exception
    assert at.error and at.error[0].value.startswith("Not saved:") and message in at.error[0].value
    with sessions.begin() as session:
        after = session.get(Account, seeded["alice"])
        assert (after.settings, after.timezone) == stored


def test_a_switch_is_stored_when_toggled(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    at.toggle(key=f"unfollows_on-{seeded['alice']}").set_value(True).run()

    assert not at.exception
    assert "Unfollows of @alice turned on" in at.success[0].value
    with sessions.begin() as session:
        assert session.get(Account, seeded["alice"]).unfollows_on is True
    assert at.dataframe[0].value.iloc[0]["unfollows"] == True  # noqa: E712 (a numpy bool)


def test_pause_and_resume_an_account(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    button(at, "Pause account").click().run()

    assert not at.exception and "@alice paused" in at.success[0].value
    assert at.dataframe[0].value.iloc[0]["state"] == "paused"
    button(at, "Resume account").click().run()
    assert "@alice resumed" in at.success[0].value
    with sessions.begin() as session:
        assert session.get(Account, seeded["alice"]).state is AccountState.ACTIVE


def test_an_account_that_needs_attention_asks_for_its_password(
    seeded: dict[str, int], sessions: Sessions
) -> None:
    with sessions.begin() as session:
        accounts_db.set_state(
            session,
            account_id=seeded["alice"],
            state=AccountState.NEEDS_ATTENTION,
            reason="challenge_required",
        )
    at = page()
    assert at.dataframe[0].value.iloc[0]["state"] == "needs attention: challenge_required"
    assert at.text_input(key=f"relogin-password-{seeded['alice']}").proto.type == 1  # a password field
    button(at, "Log in again and resume").click().run()  # no password given

    assert not at.exception
    assert "give its password to log it in again" in at.error[0].value
    with sessions.begin() as session:
        assert session.get(Account, seeded["alice"]).state is AccountState.NEEDS_ATTENTION


def test_lift_a_block(seeded: dict[str, int]) -> None:
    at = page()
    button(at, "Lift block").click().run()

    assert not at.exception and "like of @alice unblocked" in at.success[0].value
    assert at.dataframe[0].value.iloc[0]["blocks"] == ""


def test_pause_and_resume_a_job(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    button(at, "Pause job").click().run()

    assert not at.exception and f"Job {seeded['job']} paused" in at.success[0].value
    assert at.dataframe[1].value.iloc[0]["status"] == "paused"
    button(at, "Resume job").click().run()
    assert f"Job {seeded['job']} resumed" in at.success[0].value
    with sessions.begin() as session:
        assert session.get(Job, seeded["job"]).status is JobStatus.FOLLOWS


def test_like_job_now_once(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    button(at, "Like job now").click().run()

    assert not at.exception and "like posts of 4 followers" in at.success[0].value
    button(at, "Like job now").click().run()
    assert "has an open like job already" in at.error[0].value
    with sessions.begin() as session:
        kinds = session.scalars(select(Job.kind).where(Job.account_id == seeded["alice"])).all()
    assert sorted(kinds) == [JobKind.FOLLOW, JobKind.LIKE]


def test_like_job_now_waits_for_likes_on(seeded: dict[str, int]) -> None:
    at = page()
    at.selectbox(key="growth_account").select(seeded["bob"]).run()

    assert not at.exception
    assert at.button(key=f"like-{seeded['bob']}").disabled  # likes are off: the job would only wait
    assert not at.button(key=f"pause-{seeded['bob']}").disabled


def test_a_bad_follow_job_shows_an_error_and_stores_nothing(
    seeded: dict[str, int], sessions: Sessions
) -> None:
    at = page()
    at.selectbox(key=f"follow-source-{seeded['alice']}").select(FollowSource.LOCATION)
    at.text_input(key=f"follow-target-{seeded['alice']}").input("Paris")
    button(at, "Create follow job").click().run()

    assert not at.exception
    assert "Nothing stored: a location is its numeric id" in at.error[0].value
    with sessions.begin() as session:
        assert len(session.scalars(select(Job)).all()) == 1


def test_mark_notices_read(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    with sessions.begin() as session:
        first = session.scalar(select(Notice.id).where(Notice.text == "job done"))
    at.multiselect(key="notices-picked").select(first).run()
    button(at, "Mark read").click().run()

    assert not at.exception and "1 notice marked read" in at.success[0].value
    notices = at.dataframe[6].value
    assert list(notices["read"]) == [False, False, True] and notices.iloc[-1]["text"] == "job done"
    at.selectbox(key="notice-owner").select("ben").run()
    button(at, "Mark all read").click().run()
    assert "1 notice marked read" in at.success[0].value
    with sessions.begin() as session:
        unread = session.scalars(select(Notice.text).where(Notice.read_at.is_(None))).all()
    assert len(unread) == 1 and unread[0].startswith("like blocked")  # ann's, not ben's


def test_add_account_with_bad_input_stores_nothing(sessions: Sessions) -> None:
    at = page()
    at.text_input(key="add-owner").input("ann")
    at.text_input(key="add-username").input("not a name!")
    at.text_input(key="add-password").input("secret")
    button(at, "Add account").click().run()

    assert not at.exception and "Nothing stored: not a username" in at.error[0].value
    at.text_input(key="add-username").input("alice")
    at.text_input(key="add-password").input("")
    button(at, "Add account").click().run()
    assert "Nothing stored: the password is empty" in at.error[0].value
    at.text_input(key="add-password").input("secret")
    at.text_input(key="add-timezone").input("Nowhere/City")
    button(at, "Add account").click().run()
    assert "unknown time zone" in at.error[0].value
    with sessions.begin() as session:
        assert session.scalars(select(Account)).all() == []


def test_job_logic_is_changed_or_refused(sessions: Sessions) -> None:
    at = page()
    at.number_input(key="logic-follow_batch").set_value(5)
    at.number_input(key="logic-followers_per_like_job").set_value(0)
    button(at, "Save job logic").click().run()

    assert not at.exception
    assert "Not saved" in at.error[0].value and "followers_per_like_job" in at.error[0].value
    assert at.number_input(key="logic-follow_batch").value == 5  # what was typed stays
    at.number_input(key="logic-followers_per_like_job").set_value(6)
    button(at, "Save job logic").click().run()
    assert "Job logic saved" in at.success[0].value
    at = page()
    assert at.number_input(key="logic-follow_batch").value == 5
    assert at.number_input(key="logic-followers_per_like_job").value == 6


@pytest.fixture
def network(sandbox_url: str, sessions: Sessions) -> Iterator[None]:
    """The network's base URL on the test sandbox (its overlay reset); the environment restored after."""
    httpx.post(f"{sandbox_url}/network/_control/reset").raise_for_status()
    saved = dict(os.environ)
    set_env({"SWITCHYARD_NETWORK__BASE_URL": f"{sandbox_url}/network"})
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_add_an_account_then_a_follow_job_on_the_sandbox(network: None, sessions: Sessions) -> None:
    at = page()
    at.text_input(key="add-owner").input("ann")
    at.text_input(key="add-username").input("@demo_studio")
    at.text_input(key="add-password").input("wrong")
    button(at, "Add account").click().run()
    assert (
        "Nothing stored: the network said: login of demo_studio: the password was refused"
        in at.error[0].value
    )

    at.text_input(key="add-password").input(PASSWORD)
    at.checkbox(key="add-follows_on").check()
    button(at, "Add account").click().run()

    assert not at.exception
    assert "@demo_studio connected" in at.success[0].value
    assert any("no Prefect server is configured" in info.value for info in at.info)  # the sync waits
    assert "@demo_studio" in at.dataframe[0].value["username"].tolist()  # in the table at once
    with sessions.begin() as session:
        (account,) = session.scalars(select(Account)).all()
        session_token = accounts_db.login_of(session, account_id=account.id).session
    assert account.follows_on and not account.likes_on and account.timezone == "Europe/Moscow"
    assert session_token not in texts(at) and PASSWORD not in texts(at)

    at = page()
    at.text_input(key=f"follow-target-{account.id}").input("corner_shop")
    at.number_input(key=f"follow-count-{account.id}").set_value(5)
    button(at, "Create follow job").click().run()
    assert not at.exception and "follow 5 from account corner_shop" in at.success[0].value
    at.text_input(key=f"follow-target-{account.id}").input("private_person")
    button(at, "Create follow job").click().run()
    assert "@private_person is private" in at.error[0].value
    with sessions.begin() as session:
        assert [(job.target, job.wanted) for job in session.scalars(select(Job))] == [("corner_shop", 5)]
