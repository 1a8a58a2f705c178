"""Channels' rules: repost filters and each of their edges (likes, reposts, replies, languages, users,
keywords any/all, not_yet against never, several rules), time slots (across midnight, DST changes in
Europe/Berlin and America/New_York, taken slots skipped, validation) and the post states."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.channels import (
    BY_PERSON,
    TRANSITIONS,
    KeywordMode,
    Outcome,
    PostState,
    RepostRule,
    TimelinePost,
    Verdict,
    can_move,
    check_due,
    check_slots,
    check_timezone,
    judge,
    judge_all,
    next_free_slot,
)

POST = TimelinePost(
    post_id="1",
    author_id="42",
    author_username="SomeBrand",
    text="New Python release: faster builds #python",
    language="en",
    created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    like_count=10,
    repost_count=3,
    hashtags=("python",),
)


def _post(**changes: object) -> TimelinePost:
    return replace(POST, **changes)


@pytest.mark.parametrize(
    ("changes", "rule", "outcome", "reason"),
    [
        ({}, RepostRule(), Outcome.REPOST, "passes every filter"),
        ({"is_reply": True}, RepostRule(), Outcome.NEVER, "a reply"),
        ({"is_reply": True}, RepostRule(no_replies=False), Outcome.REPOST, None),
        ({"is_repost": True}, RepostRule(), Outcome.NEVER, "a repost of a repost"),
        ({"is_repost": True}, RepostRule(no_reposts_of_reposts=False), Outcome.REPOST, None),
        ({"like_count": 9}, RepostRule(min_likes=10), Outcome.NEVER, "only 9 likes, at least 10"),
        ({"like_count": 10}, RepostRule(min_likes=10), Outcome.REPOST, None),
        ({"like_count": 1}, RepostRule(min_likes=2), Outcome.NEVER, "only 1 like, at least 2"),
        ({"repost_count": 4}, RepostRule(min_reposts=5), Outcome.NEVER, "only 4 reposts, at least 5"),
        ({"repost_count": 5}, RepostRule(min_reposts=5), Outcome.REPOST, None),
        (
            {"hashtags": ("a", "b", "c", "d")},
            RepostRule(max_hashtags=3),
            Outcome.NEVER,
            "4 hashtags, at most 3",
        ),
        ({"hashtags": ("a", "b", "c")}, RepostRule(max_hashtags=3), Outcome.REPOST, None),
        ({"hashtags": ("a",)}, RepostRule(max_hashtags=0), Outcome.NEVER, "1 hashtag, at most 0"),
        (
            {"hashtags": (), "text": "#a #b"},
            RepostRule(max_hashtags=1),
            Outcome.NEVER,
            "2 hashtags, at most 1",
        ),
        ({"hashtags": (), "text": "no tags"}, RepostRule(max_hashtags=0), Outcome.REPOST, None),
        (
            {"language": "fr"},
            RepostRule(languages=["en", "de"]),
            Outcome.NEVER,
            "language 'fr', not one of en, de",
        ),
        ({"language": "DE"}, RepostRule(languages=["en", "de"]), Outcome.REPOST, None),
        ({"language": "zh-cn"}, RepostRule(languages=["zh"]), Outcome.REPOST, None),
        (
            {"language": None},
            RepostRule(languages=["en"]),
            Outcome.NEVER,
            "language 'unknown', not one of en",
        ),
        ({"language": "und"}, RepostRule(), Outcome.REPOST, None),
        ({}, RepostRule(refused_users=["@somebrand"]), Outcome.NEVER, "author @SomeBrand is refused"),
        ({}, RepostRule(refused_users=["42"]), Outcome.NEVER, "author @SomeBrand is refused"),
        (
            {},
            RepostRule(allowed_users=["other"]),
            Outcome.NEVER,
            "author @SomeBrand is not among the allowed users",
        ),
        ({}, RepostRule(allowed_users=["other", "SOMEBRAND"]), Outcome.REPOST, None),
        ({}, RepostRule(allowed_users=["42"]), Outcome.REPOST, None),
        ({}, RepostRule(refused_keywords=["crypto", "python"]), Outcome.NEVER, "refused keyword 'python'"),
        (
            {"text": "Buy CRYPTO now"},
            RepostRule(refused_keywords=["crypto"]),
            Outcome.NEVER,
            "refused keyword 'crypto'",
        ),
        (
            {"text": "#crypto news"},
            RepostRule(refused_keywords=["crypto"]),
            Outcome.NEVER,
            "refused keyword 'crypto'",
        ),
        ({"text": "cryptography talk"}, RepostRule(refused_keywords=["crypto"]), Outcome.REPOST, None),
        (
            {"text": "比特币价格上涨"},
            RepostRule(refused_keywords=["比特币"]),
            Outcome.NEVER,
            "refused keyword '比特币'",
        ),
        ({}, RepostRule(keywords=["rust", "python"]), Outcome.REPOST, None),
        (
            {},
            RepostRule(keywords=["rust", "go"]),
            Outcome.NEVER,
            "none of the required keywords ('rust', 'go')",
        ),
        ({}, RepostRule(keywords=["python", "release"], keyword_mode="all"), Outcome.REPOST, None),
        (
            {},
            RepostRule(keywords=["python", "rust"], keyword_mode=KeywordMode.ALL),
            Outcome.NEVER,
            "missing required keyword 'rust'",
        ),
        ({}, RepostRule(keywords=["new python release"]), Outcome.REPOST, None),  # a phrase
        ({"like_count": 3}, RepostRule(wait_for_likes=10), Outcome.NOT_YET, "only 3 likes, waits for 10"),
        ({"like_count": 9}, RepostRule(wait_for_likes=10), Outcome.NOT_YET, "only 9 likes, waits for 10"),
        ({"like_count": 10}, RepostRule(wait_for_likes=10), Outcome.REPOST, "reached 10 likes"),
        # a post that can never pass is "never" even though it has not reached the awaited likes yet
        ({"like_count": 3, "is_reply": True}, RepostRule(wait_for_likes=10), Outcome.NEVER, "a reply"),
        (
            {"like_count": 3},
            RepostRule(wait_for_likes=10, min_likes=5),
            Outcome.NEVER,
            "only 3 likes, at least 5",
        ),
    ],
)
def test_judge(changes: dict[str, object], rule: RepostRule, outcome: Outcome, reason: str | None) -> None:
    verdict = judge(_post(**changes), rule)
    assert verdict.outcome == outcome
    if reason is not None:
        assert verdict.reason == reason


def test_judge_all_reposts_if_any_rule_does() -> None:
    english = RepostRule(languages=["en"], keywords=["python"])
    popular = RepostRule(wait_for_likes=100)
    refusing = RepostRule(refused_keywords=["python"])
    assert judge_all(POST, [refusing, english]) == Verdict(Outcome.REPOST, "passes every filter", 2)
    assert judge_all(POST, [refusing, popular]) == Verdict(Outcome.NOT_YET, "only 10 likes, waits for 100", 2)
    assert judge_all(_post(like_count=100), [refusing, popular]).outcome == Outcome.REPOST
    never = judge_all(_post(language="fr"), [english, refusing])
    assert never.outcome == Outcome.NEVER and never.rule_no is None
    assert never.reason == "rule 1: language 'fr', not one of en; rule 2: refused keyword 'python'"
    assert judge_all(POST, [refusing]).reason == "refused keyword 'python'"
    assert judge_all(POST, []) == Verdict(Outcome.NEVER, "the channel has no repost rules")


def test_repost_rule_validation() -> None:
    rule = RepostRule(languages="EN, de", keywords="Python,\nRust, python", allowed_users=["@Brand_1", "123"])
    assert rule.languages == ("en", "de")
    assert rule.keywords == ("python", "rust")
    assert rule.allowed_users == ("brand_1", "123")
    with pytest.raises(ValidationError, match="unknown language 'xx'"):
        RepostRule(languages=["en", "xx"])
    with pytest.raises(ValidationError, match="unknown language 'eng'"):
        RepostRule(languages=["eng"])
    with pytest.raises(ValidationError, match="not a username"):
        RepostRule(refused_users=["has space"])
    for bad in ({"min_likes": -1}, {"wait_for_likes": 0}, {"max_hashtags": -1}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            RepostRule(**bad)


def test_timeline_post_validation() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _post(created_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="negative"):
        _post(like_count=-1)


SLOTS = (time(2, 0), time(6, 40), time(11, 40))
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def _at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def test_next_free_slot_in_a_day_and_across_midnight() -> None:
    after = _at(BERLIN, 2026, 6, 10, 7, 0)
    assert next_free_slot(SLOTS, "Europe/Berlin", set(), after) == _at(BERLIN, 2026, 6, 10, 11, 40)
    late = _at(BERLIN, 2026, 6, 10, 23, 30)
    assert next_free_slot(SLOTS, "Europe/Berlin", set(), late) == _at(BERLIN, 2026, 6, 11, 2, 0)
    exactly = _at(BERLIN, 2026, 6, 10, 11, 40)  # strictly after: not the slot it is at
    assert next_free_slot(SLOTS, "Europe/Berlin", set(), exactly) == _at(BERLIN, 2026, 6, 11, 2, 0)
    result = next_free_slot(SLOTS, "Asia/Tokyo", set(), datetime(2026, 6, 10, 15, 0, tzinfo=UTC))
    assert result == datetime(2026, 6, 10, 17, 0, tzinfo=UTC) and result.tzinfo is UTC  # 02:00 JST


def test_next_free_slot_skips_taken_slots() -> None:
    after = _at(BERLIN, 2026, 6, 10, 7, 0)
    taken = {_at(BERLIN, 2026, 6, 10, 11, 40), _at(BERLIN, 2026, 6, 11, 2, 0)}
    assert next_free_slot(SLOTS, "Europe/Berlin", taken, after) == _at(BERLIN, 2026, 6, 11, 6, 40)
    taken_elsewhere = {moment.astimezone(NEW_YORK) for moment in taken}  # any zone: compared as instants
    assert next_free_slot(SLOTS, "Europe/Berlin", taken_elsewhere, after) == _at(BERLIN, 2026, 6, 11, 6, 40)
    month = {_at(BERLIN, 2026, 6, 10, 2, 0) + timedelta(days=day) for day in range(1, 31)}  # 11 June–10 July
    assert next_free_slot([time(2, 0)], "Europe/Berlin", month, after) == _at(BERLIN, 2026, 7, 11, 2, 0)


def test_next_free_slot_over_dst_changes_in_berlin() -> None:
    slots = (time(2, 0), time(2, 30), time(3, 30), time(6, 40))
    spring = _at(BERLIN, 2026, 3, 29, 0, 0)  # 02:00 → 03:00 that night
    found: list[datetime] = []
    for _ in range(4):
        found.append(next_free_slot(slots, "Europe/Berlin", set(found), spring))
    local = [moment.astimezone(BERLIN).strftime("%d %H:%M %Z") for moment in found]
    # 02:00 and 02:30 do not exist: they fall an hour later; 02:30 and 03:30 are then one instant
    assert local == ["29 03:00 CEST", "29 03:30 CEST", "29 06:40 CEST", "30 02:00 CEST"]
    autumn = _at(BERLIN, 2026, 10, 25, 0, 0)  # 03:00 → 02:00 that night: 02:00–02:59 happen twice
    found = []
    for _ in range(4):
        found.append(next_free_slot(slots, "Europe/Berlin", set(found), autumn))
    local = [moment.astimezone(BERLIN).strftime("%d %H:%M %Z") for moment in found]
    assert local == ["25 02:00 CEST", "25 02:30 CEST", "25 03:30 CET", "25 06:40 CET"]  # once each


def test_next_free_slot_over_dst_changes_in_new_york() -> None:
    slots = (time(1, 30), time(2, 30))
    spring = _at(NEW_YORK, 2026, 3, 8, 0, 0)  # 02:00 → 03:00
    first = next_free_slot(slots, "America/New_York", set(), spring)
    second = next_free_slot(slots, "America/New_York", {first}, spring)
    assert first == _at(NEW_YORK, 2026, 3, 8, 1, 30)
    assert second.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"
    autumn = _at(NEW_YORK, 2026, 11, 1, 0, 0)  # 02:00 → 01:00: 01:30 happens twice
    first = next_free_slot(slots, "America/New_York", set(), autumn)
    second = next_free_slot(slots, "America/New_York", {first}, autumn)
    assert first.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"
    assert second.astimezone(NEW_YORK).strftime("%H:%M %Z") == "02:30 EST"
    assert second - first == timedelta(hours=2)


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
    st.lists(st.integers(0, 20), max_size=15),
)
def test_next_free_slot_is_the_first_free_slot_after(
    after: datetime, zone_name: str, taken_nos: list[int]
) -> None:
    candidates = []
    while len(candidates) < 21:
        candidates.append(
            next_free_slot(SLOTS, zone_name, set(candidates), candidates[-1] if candidates else after)
        )
    taken = {candidates[number] for number in taken_nos}
    result = next_free_slot(SLOTS, zone_name, taken, after)
    assert result == next(moment for moment in candidates if moment not in taken)
    assert result > after and result.tzinfo is UTC
    assert all(earlier < later for earlier, later in pairwise(candidates))


def test_slot_validation() -> None:
    assert check_slots([time(2, 0), time(6, 40)]) == (time(2, 0), time(6, 40))
    with pytest.raises(ValueError, match="duplicate slot 06:40"):
        check_slots([time(2, 0), time(6, 40), time(6, 40)])
    with pytest.raises(ValueError, match="out of order: 02:00 comes after 06:40"):
        check_slots([time(6, 40), time(2, 0)])
    with pytest.raises(ValueError, match="at least one"):
        check_slots([])
    with pytest.raises(ValueError, match="local times"):
        check_slots([time(2, 0, tzinfo=UTC)])
    with pytest.raises(ValueError, match="time zone"):
        next_free_slot(SLOTS, "Mars/Base", set(), datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_free_slot(SLOTS, "UTC", set(), datetime(2026, 1, 1))
    assert check_timezone("Asia/Shanghai") == "Asia/Shanghai"


def test_due_times() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    moscow = datetime(2026, 6, 1, 16, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    assert check_due(moscow, now) == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert check_due(now, now) == now
    with pytest.raises(ValueError, match="in the past"):
        check_due(now - timedelta(seconds=1), now)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_due(datetime(2026, 6, 2), now)


def test_post_states() -> None:
    assert can_move(PostState.DRAFT, PostState.QUEUED)
    assert can_move("queued", "publishing") and can_move("publishing", "published")
    assert can_move(PostState.PUBLISHING, PostState.ERROR)
    assert can_move(PostState.ERROR, PostState.QUEUED)  # a person retries it
    assert (PostState.ERROR, PostState.QUEUED) in BY_PERSON
    assert not can_move(PostState.PUBLISHED, PostState.QUEUED)
    assert not can_move(PostState.CANCELLED, PostState.QUEUED)
    assert not can_move(PostState.DRAFT, PostState.PUBLISHED)
    assert not can_move(PostState.PUBLISHING, PostState.CANCELLED)  # already sent: too late
    assert not can_move(PostState.ERROR, PostState.PUBLISHED)
    assert set(TRANSITIONS) == set(PostState)
    assert all(can_move(frm, to) for frm, to in BY_PERSON)
    with pytest.raises(ValueError):
        can_move("draft", "sent")


def test_a_channel_never_reposts_its_own_posts_and_gives_up_waiting() -> None:
    from datetime import UTC, datetime, timedelta

    from rules.channels import Outcome, RepostRule, TimelinePost, judge_for_channel

    made = datetime(2026, 12, 1, 12, tzinfo=UTC)
    post = TimelinePost("10", "2001", "tech_daily", "zebra", "en", made, like_count=3)
    rule = RepostRule(wait_for_likes=10)
    assert judge_for_channel(post, [rule], "1001").outcome is Outcome.NOT_YET
    later = judge_for_channel(post, [rule], "1001", made + timedelta(hours=25), timedelta(hours=24))
    assert (
        later.outcome is Outcome.NEVER and later.reason == "only 3 likes, waits for 10; given up after 24 h"
    )
    own = TimelinePost("11", "1001", "demo_brand", "zebra", "en", made)
    assert judge_for_channel(own, [RepostRule()], "1001").reason == "the channel's own post"
