"""Publishing scheduled posts against the sandbox's microblog, on SQLite and
PostgreSQL: each post at its due time, once; hashtags added within the limit; an unknown outcome
found among the channel's own posts; duplicate content counted as done; two concurrent publishers;
a publisher killed (SIGKILL) after its post was made and before it was recorded; a 401 stopping the
channel with a notification; a 429 putting posts back until the reset."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from commands import channels as commands
from core.settings import PROJECT_ROOT
from db.base import utcnow
from db.channels import channels
from db.channels.models import Channel, ChannelState, ScheduledPost
from rules.channels import PostState
from tasks.channels_publish import Published, publish_claimed
from tests.conftest import ConfigureSandbox, connect_channel, set_env

Sessions = sessionmaker[Session]
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def microblog(microblog: str) -> str:
    """The shared fixture's microblog, with a short read timeout (the tests' faults never answer)."""
    set_env({"SWITCHYARD_MICROBLOG__READ_TIMEOUT": "0.5"})
    return microblog


def counters(base: str, user: str = "demo_brand") -> dict[str, Any]:
    return httpx.get(f"{base}/_counters/{user}").json()


def posts_counted(base: str, user: str = "demo_brand") -> tuple[int, int, int]:
    """The user's posts at the sandbox: (received, applied, duplicates)."""
    posts = counters(base, user)["posts"]
    return posts["received"], posts["applied"], posts["duplicates"]


def _connect(name: str = "demo_brand") -> int:
    return connect_channel(name)


def _publish() -> list[Any]:
    return asyncio.run(publish_claimed(1000))


def test_due_posts_go_out_at_their_time_once_with_their_hashtags(microblog: str, sessions: Sessions) -> None:
    channel_id = _connect()
    with sessions.begin() as session:
        session.get(Channel, channel_id).hashtags_on = True
    commands.set_hashtag_rule("demo_brand", {"tags": ["coffee"], "position": "end", "count": 1})
    soon = utcnow() + timedelta(seconds=1.5)
    first = commands.schedule_post("demo_brand", text="Morning beans", due_at=soon)
    second = commands.schedule_post("demo_brand", text="Evening beans", due_at=soon)
    outcomes = _publish()
    assert {o.result for o in outcomes} == {Published.PUBLISHED}
    assert all(o.delay >= 0 for o in outcomes)  # not before its due time
    with sessions.begin() as session:
        rows = {p.id: p for p in session.scalars(select(ScheduledPost))}
    assert rows[first.id].published_text == "Morning beans #coffee" and rows[first.id].platform_post_id
    assert rows[second.id].status is PostState.PUBLISHED
    assert _publish() == []  # nothing due: published posts are never claimed again
    count = counters(microblog)
    assert (count["posts"]["applied"], count["posts"]["duplicates"]) == (2, 0)


def test_an_unknown_outcome_is_found_among_its_own_posts_and_not_sent_again(
    microblog: str, sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    _connect()
    post = commands.schedule_post("demo_brand", text="Timed out but out", due_at=utcnow())
    configure_sandbox(microblog_applied_timeout_rate=1.0)
    (outcome,) = _publish()
    assert outcome.result is Published.PUBLISHED
    assert posts_counted(microblog) == (1, 1, 0)
    with sessions.begin() as session:
        row = session.get(ScheduledPost, post.id)
        assert row.status is PostState.PUBLISHED and row.platform_post_id


def test_duplicate_content_counts_as_done(microblog: str, sessions: Sessions) -> None:
    _connect()
    commands.schedule_post("demo_brand", text="Same words", due_at=utcnow())
    _publish()
    again = commands.schedule_post("demo_brand", text="Same words", due_at=utcnow())
    (outcome,) = _publish()
    assert outcome.result is Published.PUBLISHED
    with sessions.begin() as session:
        assert session.get(ScheduledPost, again.id).status is PostState.PUBLISHED
    assert counters(microblog)["posts"]["applied"] == 1


def test_two_publishers_at_once_publish_each_post_once(microblog: str, sessions: Sessions) -> None:
    _connect()
    for n in range(10):
        commands.schedule_post("demo_brand", text=f"Post number {n}", due_at=utcnow())

    async def both() -> list[Any]:
        return await asyncio.gather(publish_claimed(1000), publish_claimed(1000))

    first, second = asyncio.run(both())
    assert len(first) + len(second) == 10
    assert posts_counted(microblog) == (10, 10, 0)
    with sessions.begin() as session:
        states = session.scalars(select(ScheduledPost.status)).all()
    assert states == [PostState.PUBLISHED] * 10


def test_a_revoked_token_stops_the_channel_with_a_notification(microblog: str, sessions: Sessions) -> None:
    channel_id = _connect()
    post = commands.schedule_post("demo_brand", text="Never sent", due_at=utcnow())
    httpx.post(f"{microblog}/_control/users/demo_brand/revoke").raise_for_status()
    (outcome,) = _publish()
    assert outcome.result is Published.PUT_BACK
    with sessions.begin() as session:
        assert session.get(Channel, channel_id).state is ChannelState.UNAUTHORISED
        assert session.get(ScheduledPost, post.id).status is PostState.QUEUED
        assert channels.unread_count(session, channel_id=channel_id) == 1
    assert _publish() == []  # an unauthorised channel publishes nothing


def test_a_429_puts_posts_back_until_the_reset_for_every_worker(microblog: str, sessions: Sessions) -> None:
    _connect()
    httpx.put(f"{microblog}/_control/users/demo_brand/limits", json={"posts": 2}).raise_for_status()
    for n in range(4):
        commands.schedule_post("demo_brand", text=f"Limited {n}", due_at=utcnow())
    outcomes = _publish()
    results = sorted(str(o.result) for o in outcomes)
    assert results.count("published") == 2 and results.count("put back") == 2
    assert _publish() == []  # put back until the reset: not claimed again now
    count = counters(microblog)
    assert count["posts"]["applied"] == 2


def test_expiring_tokens_are_refreshed_and_a_refused_refresh_stops_the_channel(
    microblog: str, sessions: Sessions
) -> None:
    from db.channels.models import ChannelToken
    from tasks.channels_tokens import refresh_channel

    channel_id = _connect()
    with sessions.begin() as session:
        old = channels.tokens_of(session, channel_id=channel_id)
        session.get(ChannelToken, channel_id).expires_at = utcnow() + timedelta(minutes=5)
        assert channels.expiring(session, within=timedelta(minutes=20)) == [channel_id]
    assert asyncio.run(refresh_channel(channel_id)).ok
    with sessions.begin() as session:
        new = channels.tokens_of(session, channel_id=channel_id)
        assert new.refresh_token != old.refresh_token and new.expires_at > utcnow() + timedelta(hours=1)
        assert channels.expiring(session, within=timedelta(minutes=20)) == []
    commands.schedule_post("demo_brand", text="After a refresh", due_at=utcnow())
    assert [o.result for o in _publish()] == [Published.PUBLISHED]  # the new token works
    httpx.post(f"{microblog}/_control/users/demo_brand/revoke").raise_for_status()
    refused = asyncio.run(refresh_channel(channel_id))
    assert not refused.ok
    with sessions.begin() as session:
        channel = session.get(Channel, channel_id)
        assert channel.state is ChannelState.UNAUTHORISED and "could not be refreshed" in channel.state_reason
        assert channels.unread_count(session, channel_id=channel_id) == 1


def test_a_post_refused_for_an_expired_token_goes_out_after_a_refresh(
    microblog: str, sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    import time as clock

    configure_sandbox(microblog_token_seconds=1)
    channel_id = _connect()
    clock.sleep(1.5)  # the access token has ended; its refresh token has not
    configure_sandbox(microblog_token_seconds=7200)
    post = commands.schedule_post("demo_brand", text="Out after a refresh", due_at=utcnow())
    (first,) = _publish()
    assert first.result is Published.PUT_BACK and "refreshed" in first.detail
    (second,) = _publish()
    assert second.result is Published.PUBLISHED
    with sessions.begin() as session:
        assert session.get(Channel, channel_id).state is ChannelState.RUNNING
        assert session.get(ScheduledPost, post.id).status is PostState.PUBLISHED
    assert counters(microblog)["posts"]["applied"] == 1


PUBLISHER = """
import asyncio, sys
from tasks.channels_publish import publish_claimed

asyncio.run(publish_claimed(1000, lease_seconds=float(sys.argv[1])))
"""
KILLED_LEASE = 6.0  # seconds the killed publisher's claim holds the post


def test_a_publisher_killed_after_its_post_was_made_publishes_it_once_on_the_next_run(
    microblog: str, sessions: Sessions, configure_sandbox: ConfigureSandbox, sandbox_app: Starlette
) -> None:
    _connect()
    post = commands.schedule_post("demo_brand", text="Out before the crash", due_at=utcnow())
    configure_sandbox(microblog_applied_timeout_rate=1.0)  # the post is made, its answer never comes
    env = dict(os.environ) | {"SWITCHYARD_MICROBLOG__READ_TIMEOUT": "120", "PYTHONPATH": str(PROJECT_ROOT)}
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(KILLED_LEASE)], env=env, cwd=PROJECT_ROOT
    )
    try:  # the moment: the sandbox counted the post applied, the publisher waits inside the request
        deadline = time.monotonic() + 60
        while counters(microblog)["posts"]["applied"] < 1:
            assert publisher.poll() is None, "the publisher ended before its post was made"
            assert time.monotonic() < deadline, "the publisher made no post within 60 s"
            time.sleep(0.02)
    finally:
        publisher.kill()  # SIGKILL: nothing recorded, the claim left as it was
        publisher.wait()
    assert publisher.returncode == -signal.SIGKILL
    with sessions.begin() as session:
        held = session.get(ScheduledPost, post.id)
        assert (held.status, held.platform_post_id, held.attempts) == (PostState.PUBLISHING, None, 1)
        lapses = held.claimed_until
    configure_sandbox(microblog_applied_timeout_rate=0.0)
    assert _publish() == []  # the dead run's lease still holds the post
    time.sleep(max(0.0, (lapses - utcnow()).total_seconds()) + 0.2)
    (outcome,) = _publish()  # the lease lapsed: claimed again, looked for first
    assert outcome.result is Published.PUBLISHED and outcome.detail == "found among its own posts"
    (made,) = sandbox_app.state.microblog.own["1001"]
    with sessions.begin() as session:
        row = session.get(ScheduledPost, post.id)
        assert (row.status, row.platform_post_id, row.attempts) == (PostState.PUBLISHED, str(made.id), 2)
    assert posts_counted(microblog) == (1, 1, 0)
    assert _publish() == []


def test_posts_of_a_channel_refused_at_once_for_an_expired_token_refresh_it_once(
    microblog: str, sessions: Sessions, configure_sandbox: ConfigureSandbox
) -> None:
    configure_sandbox(microblog_token_seconds=1)
    channel_id = _connect()
    time.sleep(1.5)  # the access token has ended; its refresh token has not
    configure_sandbox(microblog_token_seconds=7200)
    for n in range(3):
        commands.schedule_post("demo_brand", text=f"Refused at once {n}", due_at=utcnow())
    first = _publish()
    assert [o.result for o in first] == [Published.PUT_BACK] * 3
    with sessions.begin() as session:  # one refresh: a second one with the spent refresh token is refused
        assert session.get(Channel, channel_id).state is ChannelState.RUNNING
    assert [o.result for o in _publish()] == [Published.PUBLISHED] * 3
    assert posts_counted(microblog) == (3, 3, 0)
