"""Channels' database side on SQLite and PostgreSQL: connecting (tokens
encrypted, a reconnect runs again), slots, posts claimed once with a lease, a lost publisher's post
checked first, status changes, notifications and token rotation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.channels import channels, posts, reports
from db.channels.models import ChannelState, ChannelToken, ScheduledPost
from db.claims import Lease
from rules.channels import PostState

Sessions = sessionmaker[Session]
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _connect(sessions: Sessions, name: str = "brand", user_id: str = "42") -> int:
    with sessions.begin() as session:
        return channels.connect_channel(
            session,
            owner="ann",
            screen_name=name,
            platform_user_id=user_id,
            timezone="Europe/Berlin",
            access_token=f"access-token-of-{name}",
            refresh_token=f"refresh-token-of-{name}",
            expires_at=NOW + timedelta(hours=2),
        ).id


def test_tokens_are_encrypted_and_a_reconnect_runs_the_channel_again(sessions: Sessions) -> None:
    channel_id = _connect(sessions)
    with sessions.begin() as session:
        row = session.get(ChannelToken, channel_id)
        assert "access-token-of-brand" not in row.access_token and "refresh-token" not in row.refresh_token
        tokens = channels.tokens_of(session, channel_id=channel_id)
        assert tokens.access_token == "access-token-of-brand" and "token-of" not in repr(tokens)
        assert channels.unauthorised(session, channel_id=channel_id, reason="HTTP 401")
        assert not channels.unauthorised(session, channel_id=channel_id, reason="again")
        assert channels.unread_count(session, channel_id=channel_id) == 1
    assert _connect(sessions) == channel_id
    with sessions.begin() as session:
        assert channels.find_channel(session, "@brand").state is ChannelState.RUNNING
        assert channels.expiring(session, within=timedelta(hours=3), now=NOW) == [channel_id]
        assert channels.expiring(session, within=timedelta(hours=1), now=NOW) == []
        assert channels.mark_read(session, channel_id=channel_id) == 1
        assert channels.rotate_tokens(session) == 1
    with pytest.raises(ValueError, match="time zone"), sessions.begin() as session:
        channels.connect_channel(
            session,
            owner="ann",
            screen_name="x",
            platform_user_id="7",
            timezone="Mars/Base",
            access_token="a",
            refresh_token=None,
            expires_at=NOW,
        )


def test_slots_are_replaced_sorted_and_unique(sessions: Sessions) -> None:
    channel_id = _connect(sessions)
    with pytest.raises(ValueError), sessions.begin() as session:
        channels.set_slots(session, channel_id=channel_id, times=[time(2), time(2)])
    with sessions.begin() as session:
        assert channels.set_slots(
            session, channel_id=channel_id, times=[time(11, 40), time(2), time(6, 40)]
        ) == [time(2), time(6, 40), time(11, 40)]
        channels.set_slots(session, channel_id=channel_id, times=[time(9)])
        assert channels.slots_of(session, channel_id=channel_id) == [time(9)]


def test_due_posts_are_claimed_once_and_a_lost_publisher_leaves_them_checked_first(
    sessions: Sessions,
) -> None:
    channel_id = _connect(sessions)
    with sessions.begin() as session:
        soon = posts.schedule_post(
            session, channel_id=channel_id, text="soon", due_at=NOW + timedelta(seconds=30), now=NOW
        )
        later = posts.schedule_post(
            session, channel_id=channel_id, text="later", due_at=NOW + timedelta(hours=1), now=NOW
        )
        with pytest.raises(ValueError, match="in the past"):
            posts.schedule_post(
                session, channel_id=channel_id, text="old", due_at=NOW - timedelta(minutes=1), now=NOW
            )
        assert posts.taken_times(session, channel_id=channel_id, after=NOW) == {soon.due_at, later.due_at}
    first, second = Lease(60), Lease(60)
    with sessions.begin() as session:
        (claimed,) = posts.claim_due(session, lease=first, within=timedelta(minutes=1), limit=10, now=NOW)
        assert (claimed.id, claimed.check_first) == (soon.id, False)
        assert posts.claim_due(session, lease=second, within=timedelta(minutes=1), limit=10, now=NOW) == []
    lapsed = NOW + timedelta(minutes=2)
    with sessions.begin() as session:  # the first publisher died: its post comes back, checked first
        (again,) = posts.claim_due(session, lease=second, within=timedelta(minutes=1), limit=10, now=lapsed)
        assert (again.id, again.check_first) == (soon.id, True)
        assert not posts.published(session, post_id=soon.id, platform_post_id="1", text="soon", lease=first)
        assert posts.published(
            session, post_id=soon.id, platform_post_id="99", text="soon #tag", lease=second
        )
        row = session.get(ScheduledPost, soon.id)
        assert (row.status, row.platform_post_id, row.published_text) == (
            PostState.PUBLISHED,
            "99",
            "soon #tag",
        )
        assert not posts.cancel(session, post_id=soon.id)


def test_an_errored_post_is_queued_again_by_a_person_and_a_stopped_channel_publishes_nothing(
    sessions: Sessions,
) -> None:
    channel_id = _connect(sessions)
    lease = Lease(60)
    with sessions.begin() as session:
        post = posts.schedule_post(session, channel_id=channel_id, text="hello", due_at=NOW, now=NOW)
        posts.claim_due(session, lease=lease, within=timedelta(minutes=1), limit=10, now=NOW)
        assert posts.failed(session, post_id=post.id, error="refused", lease=lease)
        assert posts.requeue(session, post_id=post.id)
        channels.set_state(session, channel_id=channel_id, state=ChannelState.STOPPED, reason="by ann")
        assert posts.claim_due(session, lease=Lease(60), within=timedelta(minutes=1), limit=10, now=NOW) == []
        assert session.scalar(select(ScheduledPost.status)) is PostState.QUEUED
        assert posts.cancel(session, post_id=post.id)


def test_reports_count_each_channel_s_queue_and_unread_and_group_the_queue_by_slot(
    sessions: Sessions,
) -> None:
    first, second = _connect(sessions), _connect(sessions, "other", "43")
    with sessions.begin() as session:
        channels.set_slots(session, channel_id=first, times=[time(9), time(18)])
        nine = datetime(2026, 12, 2, 8, tzinfo=UTC)  # 09:00 in Berlin
        kept = [
            posts.schedule_post(session, channel_id=first, text=t, due_at=due, from_slot=slot, now=NOW).id
            for t, due, slot in (
                ("at nine", nine, True),
                ("at a chosen time", nine + timedelta(minutes=7), False),
                ("cancelled", nine + timedelta(hours=9), True),
            )
        ]
        assert posts.cancel(session, post_id=kept[2])
        channels.notify(session, channel_id=second, level="info", text="hello")
    with sessions.begin() as session:
        summaries = {s.screen_name: s for s in reports.channels(session)}
        assert [summaries["brand"].queued, summaries["brand"].errors, summaries["brand"].unread] == [2, 0, 0]
        assert summaries["brand"].next_due == nine
        assert [summaries["other"].queued, summaries["other"].unread, summaries["other"].next_due] == [
            0,
            1,
            None,
        ]
        assert summaries["other"].token_expires_at == NOW + timedelta(hours=2)
        assert [s.screen_name for s in reports.channels(session, owner="nobody")] == []
        queued = reports.queue(session, channel_id=first)
        assert [post.text for post in queued] == ["at nine", "at a chosen time"]
        grouped = reports.by_slot(queued, [time(9), time(18)], "Europe/Berlin")
        assert {slot: [p.text for p in group] for slot, group in grouped.items()} == {
            "09:00": ["at nine"],
            "other time": ["at a chosen time"],
        }
        assert [p.text for p in reports.queue(session, states=(PostState.CANCELLED,))] == ["cancelled"]
