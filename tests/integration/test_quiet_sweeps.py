"""Idle sweeps skip before a process starts: the database checks, and which scheduled runs are skipped."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.states import Scheduled
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.settings import PROJECT_ROOT
from db import sweeps
from db.briefs.states import create_brief
from db.channels import channels, posts
from db.channels.models import ChannelState
from db.growth import accounts
from db.growth import jobs as growth_jobs
from db.growth.models import Account, Job
from db.mailing.clients import add_client
from db.mailing.mailings import create_mailing
from db.webpages import create_request
from deployments.quiet_sweeps import AHEAD, EVERY, MARGIN, PREFETCH, skip_idle_runs
from deployments.specs import DeploymentSpec, build_deployment
from rules.briefs import BriefSpec
from rules.growth import AccountSettings, FollowSource, JobKind, JobStatus

Sessions = sessionmaker[Session]


@flow
def idle_sweep() -> None:
    """A stand-in sweep: never run here, only scheduled."""


def answers(sessions: Sessions, now: datetime) -> dict[str, bool]:
    with sessions() as session:
        return {
            check.__name__: check(session, now=now, ahead=AHEAD)
            for check in (
                sweeps.pages_waiting,
                sweeps.messages_waiting,
                sweeps.briefs_waiting,
                sweeps.posts_waiting,
            )
        }


def test_each_check_sees_only_what_its_sweep_could_do_soon(sessions: Sessions) -> None:
    now = datetime.now(UTC)
    assert not any(answers(sessions, now).values())
    with sessions.begin() as session:
        add_client(session, phone="79120000001")
        create_mailing(
            session, text="hi", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
        )
        channel = channels.connect_channel(
            session,
            owner="ann",
            screen_name="brand",
            platform_user_id="42",
            timezone="UTC",
            access_token="access-token-of-brand",
            refresh_token=None,
            expires_at=now + timedelta(hours=2),
        )
        posts.schedule_post(session, channel_id=channel.id, text="later", due_at=now + timedelta(hours=1))
    assert not any(answers(sessions, now).values())  # a mailing and a post an hour away: nothing yet
    soon = answers(sessions, now + timedelta(hours=1) - AHEAD / 2)
    assert soon == {
        "pages_waiting": False,
        "messages_waiting": True,
        "briefs_waiting": False,
        "posts_waiting": True,
    }
    with sessions.begin() as session:
        create_request(session, urls=["https://example.com/"], word="python")
        create_brief(session, spec=BriefSpec(("咖啡",), ("weibo",), None, None))
    assert answers(sessions, now) == {
        "pages_waiting": True,
        "messages_waiting": False,
        "briefs_waiting": True,
        "posts_waiting": False,
    }


@pytest.mark.usefixtures("prefect_harness")
def test_an_idle_sweep_s_runs_are_skipped_only_between_the_runner_s_reach_and_the_next_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    spec = DeploymentSpec(
        name=f"idle-{uuid.uuid4().hex[:6]}",
        entrypoint="tests/integration/test_quiet_sweeps.py:idle_sweep",
        work_pool="collect",
        schedules=[{"interval": 5}],
    )
    deployment = build_deployment(spec)

    async def scenario(idle: bool) -> tuple[int, dict[str, str]]:
        deployment_id = await deployment.aapply()
        async with get_client() as client:
            now = datetime.now(UTC)
            await client._client.post(
                f"/deployments/{deployment_id}/schedule",
                json={"start_time": now.isoformat(), "end_time": (now + timedelta(seconds=60)).isoformat()},
            )
            by_hand = await client.create_flow_run_from_deployment(
                deployment_id, state=Scheduled(scheduled_time=now + timedelta(seconds=PREFETCH + MARGIN + 5))
            )
            skipped = await skip_idle_runs(client, {deployment_id: lambda *_, **__: not idle}, now)
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
            )
            await client.delete_deployment(deployment_id)  # its runs go with it
        states = {}
        for run in runs:
            ahead = (run.expected_start_time - now).total_seconds()
            where = (
                "by hand"
                if run.id == by_hand.id
                else (
                    "reach"
                    if ahead < PREFETCH + MARGIN
                    else "window"
                    if ahead < PREFETCH + MARGIN + 2 * EVERY
                    else "later"
                )
            )
            states.setdefault(where, set()).add(run.state.name)
        return skipped, {where: ",".join(sorted(names)) for where, names in states.items()}

    skipped, states = asyncio.run(scenario(idle=True))
    assert skipped >= 3
    assert states == {"reach": "Scheduled", "window": "Skipped", "later": "Scheduled", "by hand": "Scheduled"}
    deployment = build_deployment(DeploymentSpec(**{**spec.__dict__, "name": f"busy-{uuid.uuid4().hex[:6]}"}))
    skipped, states = asyncio.run(scenario(idle=False))
    assert skipped == 0
    assert set(states.values()) == {"Scheduled"}


def growth_answers(sessions: Sessions, now: datetime) -> dict[str, bool]:
    with sessions() as session:
        return {
            check.__name__: check(session, now=now, ahead=AHEAD)
            for check in (
                sweeps.like_jobs_to_plan,
                sweeps.follow_jobs_to_plan,
                sweeps.likes_to_do,
                sweeps.follows_to_do,
                sweeps.unfollows_to_do,
            )
        }


def test_the_growth_checks_see_what_their_backstops_would_claim(sessions: Sessions) -> None:
    now = datetime.now(UTC)
    assert not any(growth_answers(sessions, now).values())
    with sessions.begin() as session:
        account = accounts.add_account(
            session,
            owner="anna",
            username="bakery",
            user_id="id-bakery",
            session_secret="secret-session-of-bakery",
            timezone="UTC",
            settings=AccountSettings(),
        )
        account.likes_on, account.follows_on, account.unfollows_on = True, True, True
        account_id = account.id
    # likes on and no like job yet: one is due; unfollows on: its sweep may find someone
    assert {name for name, due in growth_answers(sessions, now).items() if due} == {
        "like_jobs_to_plan",
        "unfollows_to_do",
    }
    with sessions.begin() as session:
        assert growth_jobs.open_like_jobs(session, wanted=5, every_minutes=30, now=now)
        session.get(Account, account_id).unfollows_on = False
        follow = growth_jobs.create_job(
            session,
            account_id=account_id,
            kind=JobKind.FOLLOW,
            wanted=5,
            source=FollowSource.HASHTAG,
            target="art",
        )
        follow_id = follow.id
    # the like job opened (none due now) waits to be planned, as does the follow job
    assert {name for name, due in growth_answers(sessions, now).items() if due} == {
        "like_jobs_to_plan",
        "follow_jobs_to_plan",
    }
    with sessions.begin() as session:
        session.execute(update(Job).values(status=JobStatus.FOLLOWS))  # both planned: actions to do
        session.execute(update(Job).where(Job.id == follow_id).values(wake_at=now + timedelta(hours=1)))
    assert {name for name, due in growth_answers(sessions, now).items() if due} == {"likes_to_do"}
    with sessions.begin() as session:
        session.execute(update(Account).values(likes_on=False))
    assert not any(growth_answers(sessions, now).values())  # the follow job sleeps, likes are off
    assert growth_answers(sessions, now + timedelta(hours=1) - AHEAD / 2)["follows_to_do"]
    with sessions.begin() as session:  # a run that held the follow job was lost: its claim lapsed
        session.execute(
            update(Job)
            .where(Job.id == follow_id)
            .values(wake_at=None, claimed_until=now - timedelta(seconds=1))
        )
        session.execute(update(Account).values(follows_on=False))
    assert all(growth_answers(sessions, now).values())  # fail_abandoned may have work in every one


def test_channel_checks_need_a_running_channel(sessions: Sessions) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        channel = channels.connect_channel(
            session,
            owner="ann",
            screen_name="cafe",
            platform_user_id="43",
            timezone="UTC",
            access_token="access-token-of-cafe",
            refresh_token="refresh-token-of-cafe",
            expires_at=now + timedelta(hours=1),
        )
        posts.schedule_post(session, channel_id=channel.id, text="now", due_at=now + timedelta(seconds=30))
        channel_id = channel.id

    def answer(at: datetime) -> dict[str, bool]:
        with sessions() as session:
            return {
                "posts": sweeps.posts_waiting(session, now=at, ahead=AHEAD),
                "reposts": sweeps.channels_reposting(session, now=at, ahead=AHEAD),
                "tokens": sweeps.tokens_expiring(session, now=at, ahead=AHEAD, within=timedelta(minutes=20)),
            }

    assert answer(now) == {"posts": True, "reposts": False, "tokens": False}
    assert answer(now + timedelta(minutes=40))["tokens"]
    with sessions.begin() as session:
        channels.set_switches(session, channel_id=channel_id, reposting=True)
    assert answer(now)["reposts"]
    with sessions.begin() as session:  # its token was refused: nothing of it can be done
        channels.set_state(session, channel_id=channel_id, state=ChannelState.UNAUTHORISED, reason="401")
    assert answer(now + timedelta(minutes=40)) == {"posts": False, "reposts": False, "tokens": False}
