"""Channels commands and the repost log on SQLite and PostgreSQL: scheduling
into slots or at a time (bad input stores nothing), the preview with hashtags, rules validated, a
timeline post judged once (a waiting one judged again), the watermark only moving forward."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from commands import channels as commands
from db.channels import channels, reports, reposts
from db.channels.models import RepostStatus, ScheduledPost
from db.channels.reposts import Judged

Sessions = sessionmaker[Session]
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def brand(sessions: Sessions) -> int:
    with sessions.begin() as session:
        channel = channels.connect_channel(
            session,
            owner="ann",
            screen_name="brand",
            platform_user_id="42",
            timezone="Europe/Moscow",
            access_token="a-token-for-brand",
            refresh_token=None,
            expires_at=NOW + timedelta(hours=2),
        )
        channel.hashtags_on = True
        return channel.id


def test_posts_go_into_the_next_free_slots_or_at_their_time(brand: int, sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="no time slots"):
        commands.schedule_post("brand", text="hello", now=NOW)
    commands.set_slots("brand", [time(11, 40), time(2), time(6, 40)])  # Moscow is UTC+3
    first = commands.schedule_post("brand", text="first", now=NOW)
    second = commands.schedule_post("brand", text="second", now=NOW)
    assert (first.due_at, second.due_at) == (
        datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 3, 40, tzinfo=UTC),
    )
    assert first.from_slot
    at = commands.schedule_post("brand", text="at noon", due_at=NOW + timedelta(hours=1), now=NOW)
    assert not at.from_slot
    for kwargs, message in (
        ({"text": "   "}, "empty"),
        ({"text": "字" * 141}, "weighted"),
        ({"text": "late", "due_at": NOW - timedelta(minutes=5)}, "in the past"),
    ):
        with pytest.raises(ValueError, match=message):
            commands.schedule_post("brand", now=NOW, **kwargs)
    with pytest.raises(ValueError, match="no channel"):
        commands.schedule_post("nobody", text="x", now=NOW)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(ScheduledPost)) == 3


def test_the_preview_adds_hashtags_only_as_far_as_they_fit(brand: int) -> None:
    commands.set_hashtag_rule("brand", {"tags": ["coffee", "morning"], "position": "end", "count": 2})
    shown = commands.preview("brand", "Fresh beans today")
    assert shown.text == "Fresh beans today #coffee #morning" and shown.added == ("coffee", "morning")
    full = commands.preview("brand", "x" * 270)
    assert full.fits and full.weighted <= 280 and full.added == ("coffee",)
    with pytest.raises(ValueError, match="tags"):
        commands.set_hashtag_rule("brand", {"tags": [], "position": "end"})


def test_rules_are_validated_and_an_unknown_language_is_named(brand: int, sessions: Sessions) -> None:
    rule_id = commands.add_repost_rule(
        "brand", name="coffee news", fields={"languages": ["en", "ru"], "min_likes": 5}
    )
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        commands.add_repost_rule("brand", name="bad", fields={"languages": ["xx"]})
    with pytest.raises(ValueError):
        commands.add_repost_rule("brand", name="bad", fields={"min_likes": -1})
    with sessions.begin() as session:
        ((stored_id, name, rule),) = reposts.repost_rules(session, channel_id=brand)
    assert (stored_id, name, rule.languages, rule.min_likes) == (rule_id, "coffee news", ("en", "ru"), 5)


def test_a_timeline_post_is_judged_once_and_a_waiting_one_again(brand: int, sessions: Sessions) -> None:
    with sessions.begin() as session:
        pending = reposts.record_judgements(
            session,
            channel_id=brand,
            judged=[
                Judged("100", "ann", RepostStatus.PENDING, None),
                Judged("101", "bob", RepostStatus.WAITING, "only 3 likes, waits for 10"),
                Judged("102", "eve", RepostStatus.SKIPPED, "refused keyword 'crypto'"),
            ],
        )
        assert pending == ["100"]
        assert reposts.reposted(session, channel_id=brand, source_post_id="100")
        again = reposts.record_judgements(
            session,
            channel_id=brand,
            judged=[
                Judged("100", "ann", RepostStatus.PENDING, None),
                Judged("101", "bob", RepostStatus.PENDING, None),
            ],
        )
        assert again == ["101"]  # 100 was reposted already: never again; 101 reached its likes
        assert reposts.waiting_posts(session, channel_id=brand) == []
        assert {r.source_post_id: r.status for r in reposts.repost_log(session, channel_id=brand)} == {
            "100": RepostStatus.REPOSTED,
            "101": RepostStatus.PENDING,
            "102": RepostStatus.SKIPPED,
        }
        reposts.move_watermark(session, channel_id=brand, since_id="900")
        reposts.move_watermark(session, channel_id=brand, since_id="800")
        assert reposts.watermark(session, channel_id=brand) == "900"


def test_a_stopped_channel_starts_again_but_an_unauthorised_one_must_reconnect(
    brand: int, sessions: Sessions
) -> None:
    assert commands.stop_channel("brand") and not commands.stop_channel("brand")
    assert commands.start_channel("brand")
    with sessions.begin() as session:
        channels.unauthorised(session, channel_id=brand, reason="HTTP 401")
    with pytest.raises(ValueError, match="connect it again"):
        commands.start_channel("brand")
    assert commands.mark_notifications_read("brand") == 1


def test_switches_and_rules_are_turned_on_and_off(brand: int, sessions: Sessions) -> None:
    commands.set_switches("brand", reposting=True, hashtags=False)
    with sessions.begin() as session:
        (summary,) = reports.channels(session)
    assert (summary.scheduling_on, summary.reposting_on, summary.hashtags_on) == (True, True, False)

    first = commands.add_repost_rule("brand", name="first", fields={"keywords": "coffee"})
    second = commands.add_repost_rule("brand", name="second", fields={"min_likes": 3})
    assert commands.enable_repost_rule("brand", first, enabled=False)
    assert not commands.enable_repost_rule("brand", 10_000)
    with sessions.begin() as session:
        assert [(r.name, r.enabled) for r in reports.repost_rules(session, channel_id=brand)] == [
            ("first", False),
            ("second", True),
        ]
        assert [rule_id for rule_id, _, _ in reposts.repost_rules(session, channel_id=brand)] == [second]
    assert commands.delete_repost_rule("brand", second) and not commands.delete_repost_rule("brand", second)
    with sessions.begin() as session:
        assert [r.id for r in reports.repost_rules(session, channel_id=brand)] == [first]
