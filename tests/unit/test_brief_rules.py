"""What a valid brief is: keywords, platforms and the time range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import PLATFORMS
from rules.briefs import MAX_KEYWORD_LENGTH, clean_keyword, split_keywords, validate_brief

BEIJING = timezone(timedelta(hours=8))


def test_keywords_are_cleaned_and_deduplicated_in_order() -> None:
    spec = validate_brief(["  新能源 ", "电动车", "新能源", "electric   car"], None, max_keywords=10)
    assert spec.keywords == ("新能源", "电动车", "electric car")
    assert spec.platforms == PLATFORMS


def test_platforms_are_checked_and_kept_in_order() -> None:
    assert validate_brief(["a"], ["Douyin", "weibo", "douyin"], max_keywords=5).platforms == (
        "douyin",
        "weibo",
    )
    with pytest.raises(ValueError, match="unknown platform 'twitter'"):
        validate_brief(["a"], ["weibo", "twitter"], max_keywords=5)
    with pytest.raises(ValueError, match="at least one platform"):
        validate_brief(["a"], [], max_keywords=5)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ([], "at least one keyword"),
        (["  "], "empty"),
        (["x" * (MAX_KEYWORD_LENGTH + 1)], "longer than"),
        (["a\x00b"], "control characters"),
        ([str(n) for n in range(4)], "at most 3"),
    ],
)
def test_bad_keywords_are_refused_with_the_reason(keywords: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_brief(keywords, None, max_keywords=3)


def test_the_time_range_is_made_utc_and_must_run_forwards() -> None:
    since = datetime(2026, 11, 1, 8, tzinfo=BEIJING)
    spec = validate_brief(["a"], None, since, since + timedelta(days=1), max_keywords=1)
    assert spec.since == datetime(2026, 11, 1, 0, tzinfo=UTC)
    assert spec.until == datetime(2026, 11, 2, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends before it starts"):
        validate_brief(["a"], None, since, since, max_keywords=1)
    with pytest.raises(ValueError, match="timezone offset"):
        validate_brief(["a"], None, datetime(2026, 11, 1), None, max_keywords=1)


def test_form_text_splits_on_lines_and_ascii_or_chinese_commas() -> None:
    assert split_keywords("新能源，电动车、充电桩\nbattery, solar ;wind\n\n") == [
        "新能源", "电动车", "充电桩", "battery", "solar", "wind",
    ]  # fmt: skip


@given(st.text(min_size=1, max_size=MAX_KEYWORD_LENGTH))
def test_a_cleaned_keyword_is_stable_and_never_blank(raw: str) -> None:
    try:
        keyword = clean_keyword(raw)
    except ValueError:
        return
    assert keyword and keyword == keyword.strip()
    assert clean_keyword(keyword) == keyword
