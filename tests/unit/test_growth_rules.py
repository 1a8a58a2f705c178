"""Growth's pure rules: skip rules and their edges, the unfollow policy, working hours (overnight,
time zones, DST), names and the account settings' validation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.growth import (
    AccountSettings,
    Friendship,
    Profile,
    SkipRules,
    UnfollowPolicy,
    WorkingHours,
    check_timezone,
    normalise_hashtag,
    normalise_username,
    skip_reason,
    unfollow_reason,
)

PLAIN = Profile("1", "someone", bio="just photos", followers=500, followings=400, posts=20)


def _profile(**changes: object) -> Profile:
    return Profile(**(PLAIN.__dict__ | changes))


@pytest.mark.parametrize(
    ("changes", "rules", "reason"),
    [
        ({}, SkipRules(), None),
        ({"is_private": True}, SkipRules(), "private"),
        ({"is_private": True}, SkipRules(skip_private=False), None),
        ({"is_business": True}, SkipRules(), None),
        ({"is_business": True}, SkipRules(skip_business=True), "business account"),
        ({"posts": 0}, SkipRules(), "no posts"),
        ({"posts": 0}, SkipRules(skip_no_posts=False), None),
        ({"followers": 99}, SkipRules(min_followers=100), "followers 99 < 100"),
        ({"followers": 100}, SkipRules(min_followers=100), None),
        ({"followers": 10_001, "followings": 5000}, SkipRules(), "followers 10001 > 10000"),
        ({"followers": 10_000, "followings": 5000}, SkipRules(), None),
        ({"followers": 10_001}, SkipRules(max_followers=None, max_ratio=None), None),
        ({"followings": 7_501}, SkipRules(), "followings 7501 > 7500"),
        ({"followings": 9}, SkipRules(min_followings=10), "followings 9 < 10"),
        ({"followers": 2001, "followings": 400}, SkipRules(), "follower/following ratio above 5"),
        ({"followers": 2000, "followings": 400}, SkipRules(), None),
        ({"followers": 6, "followings": 0}, SkipRules(), "follower/following ratio above 5"),
        ({"bio": "Best PROMO deals"}, SkipRules(bio_keywords=("promo",)), "bio mentions 'promo'"),
    ],
)
def test_skip_rules(changes: dict[str, object], rules: SkipRules, reason: str | None) -> None:
    assert skip_reason(_profile(**changes), rules) == reason


def test_skip_rules_refuse_bounds_out_of_order_and_clean_keywords() -> None:
    with pytest.raises(ValidationError, match="max_followers"):
        SkipRules(min_followers=10, max_followers=5)
    assert SkipRules(bio_keywords=" Shop, ,shop,bot ").bio_keywords == ("shop", "bot")


NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days_ago", "policy", "follows_back", "whitelisted", "unfollowed"),
    [
        (8, UnfollowPolicy.AFTER_DAYS, True, False, True),
        (7, UnfollowPolicy.AFTER_DAYS, True, False, True),
        (6.99, UnfollowPolicy.AFTER_DAYS, False, False, False),
        (8, UnfollowPolicy.NOT_FOLLOWING_BACK, True, False, False),
        (8, UnfollowPolicy.NOT_FOLLOWING_BACK, False, False, True),
        (30, UnfollowPolicy.AFTER_DAYS, False, True, False),
    ],
)
def test_unfollow_policy(
    days_ago: float, policy: UnfollowPolicy, follows_back: bool, whitelisted: bool, unfollowed: bool
) -> None:
    reason = unfollow_reason(
        followed_at=NOW - timedelta(days=days_ago),
        now=NOW,
        after_days=7,
        policy=policy,
        follows_back=follows_back,
        whitelisted=whitelisted,
    )
    assert (reason is not None) is unfollowed


def test_working_hours_in_the_account_zone_overnight_and_all_day() -> None:
    moscow = WorkingHours(time(9), time(17), "Europe/Moscow")  # UTC+3
    assert moscow.contains(datetime(2026, 12, 1, 6, tzinfo=UTC))
    assert not moscow.contains(datetime(2026, 12, 1, 14, tzinfo=UTC))
    assert moscow.next_start(datetime(2026, 12, 1, 14, tzinfo=UTC)) == datetime(2026, 12, 2, 6, tzinfo=UTC)
    assert moscow.next_start(datetime(2026, 12, 1, 5, tzinfo=UTC)) == datetime(2026, 12, 1, 6, tzinfo=UTC)
    night = WorkingHours(time(22), time(6), "UTC")
    assert night.contains(datetime(2026, 12, 1, 23, tzinfo=UTC)) and night.contains(
        datetime(2026, 12, 1, 5, tzinfo=UTC)
    )
    assert night.next_start(datetime(2026, 12, 1, 12, tzinfo=UTC)) == datetime(2026, 12, 1, 22, tzinfo=UTC)
    assert WorkingHours(time(0), time(0)).contains(NOW)


def test_the_next_start_honours_a_dst_change() -> None:
    berlin = WorkingHours(time(9), time(17), "Europe/Berlin")
    before = datetime(2026, 3, 28, 17, tzinfo=UTC)  # Saturday 18:00 CET; Sunday is CEST (UTC+2)
    assert berlin.next_start(before) == datetime(2026, 3, 29, 7, tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    st.times(),
    st.times(),
    st.sampled_from(["UTC", "Europe/Moscow", "America/New_York", "Asia/Kolkata"]),
)
def test_the_next_start_is_inside_the_hours_and_not_before_now(
    now: datetime, start: time, end: time, zone: str
) -> None:
    hours = WorkingHours(start.replace(microsecond=0, second=0), end.replace(microsecond=0, second=0), zone)
    begins = hours.next_start(now)
    assert begins >= now
    assert begins - now <= timedelta(days=1, hours=1)
    assert hours.contains(begins) or hours.contains(
        begins + timedelta(hours=1)
    )  # a DST gap may skip the start


def test_names_and_zones() -> None:
    assert normalise_username(" @Some.One_1 ") == "some.one_1"
    assert normalise_hashtag("#Coffee") == "coffee" and normalise_hashtag("咖啡") == "咖啡"
    for bad in ("", "@", "has space", "x" * 31, "semi;colon"):
        with pytest.raises(ValueError, match="username"):
            normalise_username(bad)
    with pytest.raises(ValueError, match="hashtag"):
        normalise_hashtag("#two words")
    assert check_timezone("Asia/Shanghai") == "Asia/Shanghai"
    for bad in ("Mars/Base", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="time zone"):
            check_timezone(bad)


def test_account_settings_validate_every_field_and_draw_delays_within_bounds() -> None:
    settings = AccountSettings(min_delay=30, max_delay=70, blacklist="@Spam\nbot_1, ")
    assert settings.blacklist == ("spam", "bot_1")
    rng = random.Random(3)
    assert all(30 <= settings.delay(rng) <= 70 for _ in range(200))
    for bad in (
        {"min_delay": 10, "max_delay": 5},
        {"like_quota": {"per_hour": -1, "per_day": 5}},
        {"calls_per_day": -3},
        {"blacklist": ["ok", "not ok!"]},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            AccountSettings.model_validate(bad)
    assert AccountSettings().like_quota.per_hour == 57 and AccountSettings().unfollow_quota.per_day == 402


def test_a_follow_request_to_a_private_user_counts_as_applied() -> None:
    assert Friendship(outgoing_request=True).follow_applied
    assert not Friendship(followed_by=True).follow_applied
