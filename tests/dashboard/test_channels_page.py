"""The Channels page under AppTest, on a real database (SQLite, and PostgreSQL when set); trying
rules and connecting a channel against the sandbox's microblog."""

from __future__ import annotations

from collections import Counter
from datetime import date, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

import commands.channels
from db.base import utcnow
from db.channels import channels as channels_db
from db.channels import reposts as reposts_db
from db.channels.models import (
    Channel,
    ChannelNotification,
    ChannelState,
    RepostRule,
    RepostStatus,
    ScheduledPost,
)
from db.channels.reposts import Judged
from rules.channels import HashtagRule, PostState
from tests.conftest import connect_channel, consent

Sessions = sessionmaker[Session]
CHANNELS = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "channels.py"
TOKEN = "access-token-that-must-never-show"
MOSCOW = ZoneInfo("Europe/Moscow")


def connect(session: Session, screen_name: str, user_id: str, owner: str = "ann") -> int:
    return channels_db.connect_channel(
        session,
        owner=owner,
        screen_name=screen_name,
        platform_user_id=user_id,
        timezone="Europe/Moscow",
        access_token=TOKEN,
        refresh_token="refresh-token",
        expires_at=utcnow() + timedelta(hours=2),
    ).id


@pytest.fixture
def seeded(sessions: Sessions) -> dict[str, int]:
    """Two channels: brand (slots 02:00 and 11:40, hashtags on, two notifications, a judged post) and
    cafe (stopped)."""
    with sessions.begin() as session:
        brand = connect(session, "brand", "42")
        cafe = connect(session, "cafe", "43", owner="ben")
        channels_db.set_slots(session, channel_id=brand, times=[time(2), time(11, 40)])
        channels_db.set_switches(session, channel_id=brand, hashtags=True)
        reposts_db.set_hashtag_rule(session, channel_id=brand, rule=HashtagRule(tags=("coffee",)))
        channels_db.set_state(
            session, channel_id=cafe, state=ChannelState.STOPPED, reason="stopped by its owner"
        )
        channels_db.notify(session, channel_id=brand, level="error", text="post 7 failed: HTTP 500")
        channels_db.notify(session, channel_id=brand, level="info", text="100 followers")
        channels_db.notify(session, channel_id=cafe, level="info", text="cafe news")
        reposts_db.record_judgements(
            session,
            channel_id=brand,
            judged=[Judged("900", "roaster", RepostStatus.SKIPPED, "refused keyword 'crypto'")],
        )
    return {"brand": brand, "cafe": cafe}


def page() -> AppTest:
    return AppTest.from_file(CHANNELS, default_timeout=60).run()


def button(at: AppTest, label: str) -> Button:
    return next(widget for widget in at.button if widget.label == label)


def texts(at: AppTest) -> str:
    shown = [element.value for kind in ("success", "info", "warning", "error", "markdown", "caption", "code")
             for element in at.get(kind)]  # fmt: skip
    shown += [frame.value.to_csv() for frame in at.dataframe]
    return "\n".join(str(text) for text in shown)


def posts(sessions: Sessions) -> list[ScheduledPost]:
    with sessions.begin() as session:
        return list(session.scalars(select(ScheduledPost).order_by(ScheduledPost.id)))


def test_the_page_renders_with_no_channels(sessions: Sessions) -> None:
    at = page()

    assert not at.exception
    assert at.title[0].value == "Channels"
    assert "No channel connected yet" in at.info[0].value
    assert at.tabs[5].label == "Notifications (0 unread)"
    assert any(widget.label == "Get the authorize link" for widget in at.button)


def test_channels_with_state_switches_and_token_expiry(seeded: dict[str, int]) -> None:
    at = page()

    assert not at.exception
    table = at.dataframe[0].value.set_index("channel")
    assert list(table.index) == ["@brand", "@cafe"]
    assert (
        table.loc["@brand", "state"] == "running"
        and table.loc["@cafe", "state"] == "stopped: stopped by its owner"
    )
    assert table.loc["@brand", "hashtags"] == True  # noqa: E712 (a numpy bool)
    assert table.loc["@brand", "unread"] == 2 and table.loc["@brand", "token expires"].endswith("MSK")
    assert at.tabs[5].label == "Notifications (3 unread)"
    assert at.success[0].value == "@brand is running."
    assert "token expires: 20" in at.caption[1].value
    assert at.toggle(key=f"hashtags-{seeded['brand']}").value is True
    assert at.toggle(key=f"reposting-{seeded['brand']}").value is False
    assert TOKEN not in texts(at)


def test_a_switch_is_stored_when_toggled(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    at.toggle(key=f"reposting-{seeded['brand']}").set_value(True).run()

    assert not at.exception
    assert "Reposting of @brand turned on" in at.success[0].value
    with sessions.begin() as session:
        assert session.get(Channel, seeded["brand"]).reposting_on is True


def test_stop_and_start_a_channel(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    button(at, "Stop channel").click().run()

    assert not at.exception and "@brand stopped" in at.success[0].value
    assert at.dataframe[0].value.iloc[0]["state"] == "stopped: stopped by its owner"
    button(at, "Start channel").click().run()
    assert "@brand started" in at.success[0].value
    with sessions.begin() as session:
        assert session.get(Channel, seeded["brand"]).state is ChannelState.RUNNING


def test_schedule_a_post_with_its_preview_once(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    at.text_area(key="compose-text").input("Fresh beans today").run()

    assert not at.exception
    assert at.code[0].value == "Fresh beans today #coffee"
    assert "25 / 280 weighted · hashtags added: #coffee" in [caption.value for caption in at.caption]
    button(at, "Schedule post").click().run()

    assert not at.exception
    (post,) = posts(sessions)
    assert post.text == "Fresh beans today" and post.from_slot
    local = post.due_at.astimezone(MOSCOW)
    assert f"{local:%H:%M}" in ("02:00", "11:40")
    assert f"Post {post.id} queued for @brand at {local:%Y-%m-%d %H:%M:%S} MSK" in at.success[0].value
    button(at, "Schedule post").click().run()  # the same form again
    assert any(info.value.endswith("Already stored: change the form to submit another.") for info in at.info)
    assert len(posts(sessions)) == 1

    queue_titles = [markdown.value for markdown in at.markdown]
    assert f"**{local:%H:%M}** · 1 post" in queue_titles
    queued = next(frame.value for frame in at.dataframe if "due" in frame.value.columns)
    assert list(queued["text"]) == ["Fresh beans today"] and list(queued["status"]) == ["queued"]


def test_a_post_over_the_limit_or_in_the_past_stores_nothing(
    seeded: dict[str, int], sessions: Sessions
) -> None:
    at = page()
    at.text_area(key="compose-text").input("字" * 141).run()

    assert "Too long: 282 weighted, at most 280" in at.error[0].value
    button(at, "Schedule post").click().run()
    assert not at.exception
    assert "Nothing stored: the post is 282 long, weighted: at most 280" in at.error[-1].value

    at.text_area(key="compose-text").input("Yesterday's news")
    at.radio(key="compose-when").set_value("at a chosen time").run()
    at.date_input(key="compose-date").set_value(date.today() - timedelta(days=2))
    button(at, "Schedule post").click().run()
    assert not at.exception
    assert "Nothing stored: the due time" in at.error[-1].value and "is in the past" in at.error[-1].value
    assert posts(sessions) == []


def test_a_post_at_a_chosen_time_in_the_channels_zone(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    at.text_area(key="compose-text").input("At noon")
    at.radio(key="compose-when").set_value("at a chosen time").run()
    day = date.today() + timedelta(days=3)
    at.date_input(key="compose-date").set_value(day)
    at.time_input(key="compose-time").set_value(time(12, 5))
    button(at, "Schedule post").click().run()

    assert not at.exception
    (post,) = posts(sessions)
    assert post.due_at.astimezone(MOSCOW).replace(tzinfo=None).isoformat() == f"{day}T12:05:00"
    assert not post.from_slot
    assert "**other time** · 1 post" in [markdown.value for markdown in at.markdown]


def test_cancel_and_retry_a_post(seeded: dict[str, int], sessions: Sessions) -> None:
    queued = commands.channels.schedule_post("brand", text="to cancel")
    failed = commands.channels.schedule_post("brand", text="to retry")
    with sessions.begin() as session:
        session.get(ScheduledPost, failed.id).status = PostState.ERROR
        session.get(ScheduledPost, failed.id).last_error = "HTTP 503"
    at = page()
    at.selectbox(key="channels_post").select(queued.id).run()
    assert at.button(key=f"retry-{queued.id}").disabled
    button(at, "Cancel post").click().run()

    assert not at.exception and f"Post {queued.id} cancelled" in at.success[0].value
    at.selectbox(key="channels_post").select(failed.id).run()
    assert f"Post {failed.id}: HTTP 503" in at.warning[-1].value
    button(at, "Retry post").click().run()
    assert f"Post {failed.id} queued again" in at.success[0].value
    assert [(post.id, post.status) for post in posts(sessions)] == [
        (queued.id, PostState.CANCELLED),
        (failed.id, PostState.QUEUED),
    ]


def test_slots_are_set_and_bad_ones_refused(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    key = f"slots-text-{seeded['brand']}"
    assert at.text_input(key=key).value == "02:00, 11:40"
    at.text_input(key=key).input("06:40, 25:00")
    button(at, "Save slots").click().run()

    assert not at.exception and "Slots not saved: not a time of day (HH:MM): '25:00'" in at.error[0].value
    at.text_input(key=key).input("11:40, 6:40, 11:40")
    button(at, "Save slots").click().run()
    assert "duplicate slot 11:40" in at.error[0].value
    at.text_input(key=key).input("18:30 6:40")
    button(at, "Save slots").click().run()
    assert "Slots of @brand: 06:40, 18:30" in at.success[0].value
    with sessions.begin() as session:
        assert channels_db.slots_of(session, channel_id=seeded["brand"]) == [time(6, 40), time(18, 30)]


def test_add_a_rule_an_unknown_language_refused_by_name(seeded: dict[str, int], sessions: Sessions) -> None:
    at = page()
    key = f"rule-{seeded['brand']}"
    at.text_input(key=f"{key}-name").input("coffee news")
    at.text_input(key=f"{key}-languages").input("en, xx")
    at.text_input(key=f"{key}-keywords").input("coffee, beans")
    at.number_input(key=f"{key}-wait").set_value(10)
    button(at, "Add rule").click().run()

    assert not at.exception
    assert "Nothing stored: languages: unknown language 'xx': use an ISO 639-1 code" in at.error[0].value
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(RepostRule)) == 0
    at.text_input(key=f"{key}-languages").input("en")
    button(at, "Add rule").click().run()

    assert "added to @brand" in at.success[0].value
    rules = at.dataframe[1].value
    assert list(rules["name"]) == ["coffee news"] and list(rules["enabled"]) == [True]
    assert rules.iloc[0]["filters"] == "languages: en; keywords: coffee, beans; wait for likes: 10"

    button(at, "Disable rule").click().run()
    assert "disabled" in at.success[0].value and list(at.dataframe[1].value["enabled"]) == [False]
    button(at, "Delete rule").click().run()
    assert "deleted" in at.success[0].value
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(RepostRule)) == 0


def test_try_rules_on_the_timeline(microblog: str, sessions: Sessions) -> None:
    channel_id = connect_channel("demo_brand")
    at = page()
    key = f"rule-{channel_id}"
    at.text_input(key=f"{key}-refused-keywords").input("news")
    button(at, "Test this rule").click().run()

    assert not at.exception
    tried = next(frame.value for frame in at.dataframe if "outcome" in frame.value.columns)
    outcomes = Counter(tried["outcome"])
    assert len(tried) == 200 and outcomes["never"] > 0
    summary = (
        f"**Tried this rule on 200 timeline posts**: {outcomes['repost']} reposted, "
        f"{outcomes['not_yet']} not yet, {outcomes['never']} never"
    )
    assert summary in [markdown.value for markdown in at.markdown]
    refused = tried[tried["text"].str.contains("news", case=False)]
    assert len(refused) and set(refused["outcome"]) == {"never"}

    at.text_input(key=f"{key}-languages").input("xx")
    button(at, "Test this rule").click().run()
    assert any("unknown language 'xx'" in error.value for error in at.error)


def test_the_repost_log(seeded: dict[str, int]) -> None:
    at = page()

    log = next(
        frame.value
        for frame in at.dataframe
        if "why" in frame.value.columns and "post" in frame.value.columns
    )
    assert list(log["author"]) == ["@roaster"] and list(log["status"]) == ["skipped"]
    assert log.iloc[0]["why"] == "refused keyword 'crypto'"


def test_notifications_unread_first_and_marked_read(seeded: dict[str, int], sessions: Sessions) -> None:
    with sessions.begin() as session:
        first = session.scalar(select(ChannelNotification).where(ChannelNotification.text.like("post 7%")))
        first.read_at = utcnow()
    at = page()

    notices = at.dataframe[-1].value
    assert list(notices["text"]) == ["100 followers", "post 7 failed: HTTP 500"]
    assert list(notices["read"]) == [False, True]
    assert at.tabs[5].label == "Notifications (2 unread)"
    button(at, "Mark all read of @brand").click().run()

    assert not at.exception and "1 notification marked read" in at.success[0].value
    assert at.tabs[5].label == "Notifications (1 unread)"  # cafe's
    at.checkbox(key="notifications-every").check().run()
    assert at.dataframe[-1].value.iloc[0]["text"] == "cafe news"
    button(at, "Mark all read of every channel").click().run()
    assert at.tabs[5].label == "Notifications (0 unread)"


def test_connect_a_channel_from_the_page(microblog: str, sessions: Sessions) -> None:
    at = page()
    at.text_input(key="connect-owner").input("ann")
    at.text_input(key="connect-timezone").input("Mars/Base")
    button(at, "Get the authorize link").click().run()
    assert not at.exception and at.error[0].value.startswith("No link: unknown time zone 'Mars/Base'")

    at.text_input(key="connect-timezone").input("Asia/Tokyo")
    at.text_input(key="connect-hint").input("demo_cafe")
    button(at, "Get the authorize link").click().run()
    (link,) = at.get("link_button")
    callback = consent(link.proto.url)  # the browser at the microblog, sent back to this page
    assert callback.startswith("http://127.0.0.1:8501/channels?")

    back = AppTest.from_file(CHANNELS, default_timeout=60)  # a new session: the redirect opens the page anew
    for name, values in parse_qs(urlsplit(callback).query).items():
        back.query_params[name] = values[0]
    back.run()

    assert not back.exception
    assert back.success[0].value.startswith("@demo_cafe connected (channel ")
    assert "owner ann, time zone Asia/Tokyo" in back.success[0].value
    assert list(back.dataframe[0].value["channel"]) == ["@demo_cafe"]
    assert not back.query_params.get("code")  # the code is used once and leaves the address
    back.run()
    assert not back.exception and not back.error
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Channel)) == 1


def test_a_refused_connect_shows_why_and_stores_nothing(microblog: str, sessions: Sessions) -> None:
    url = commands.channels.begin_connect("ann", "UTC", "http://127.0.0.1:8501/channels")
    at = AppTest.from_file(CHANNELS, default_timeout=60)
    for name, values in parse_qs(urlsplit(consent(url, deny=True)).query).items():
        at.query_params[name] = values[0]
    at.run()

    assert not at.exception
    assert at.error[0].value.startswith("Not connected: the authorisation was refused (access_denied)")
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Channel)) == 0
