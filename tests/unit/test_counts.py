"""core.counts: platform counts in all their written forms, and follower buckets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.counts import fans_level, parse_count

SHORT_NUMBERS = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1234, 1234),
        (3.6, 4),
        (2.5, 3),
        ("12", 12),
        ("1.2万", 12_000),
        ("3.4w", 34_000),
        ("3.4W", 34_000),
        ("10万+", 100_000),
        ("1.5亿", 150_000_000),
        ("2k", 2_000),
        ("2K", 2_000),
        ("1,234", 1_234),
        (" 56 ", 56),
        ("1.15万", 11_500),
        ("999+", 999),
        ("", 0),
        ("  ", 0),
        (None, 0),
        ("-", 0),
    ],
)
def test_parses_every_platform_form(value: object, expected: int) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "'abc' is not a number"),
        ("1.2.3", "is not a number"),
        ("万", "is not a number"),
        ("-5", "'-5' is negative"),
        ("-1.2万", "is negative"),
        (-3, "-3 is negative"),
        (-0.7, "is negative"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (True, "is not a number"),
        ([1], "is not a number"),
    ],
)
def test_refuses_garbage_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        parse_count(value)


@given(st.integers(min_value=0, max_value=10**15))
def test_plain_integers_round_trip(n: int) -> None:
    assert parse_count(n) == n
    assert parse_count(str(n)) == n
    assert parse_count(f"{n:,}") == n
    assert parse_count(f" {n}+ ") == n


@given(SHORT_NUMBERS)
def test_wan_is_ten_thousand(x: Decimal) -> None:
    count = parse_count(f"{x}万")
    assert abs(count - x * 10_000) <= Decimal("0.5")
    assert parse_count(f"{x}w") == parse_count(f"{x}W") == count
    assert parse_count(f"{x}万+") == count


@given(SHORT_NUMBERS)
def test_units_scale_consistently(x: Decimal) -> None:
    assert parse_count(f"{x}亿") == parse_count(f"{x * 10_000}万")
    assert parse_count(f"{x}k") == parse_count(f"{x / 10}万")


@given(st.integers(min_value=1, max_value=10**12))
def test_negative_numbers_are_refused(n: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_count(-n)
    with pytest.raises(ValueError, match="negative"):
        parse_count(str(-n))


@pytest.mark.parametrize(
    ("fans", "level"),
    [
        (0, "<1万"),
        (9_999, "<1万"),
        (10_000, "1万-10万"),
        (99_999, "1万-10万"),
        (100_000, "10万-100万"),
        (999_999, "10万-100万"),
        (1_000_000, "100万+"),
        (50_000_000, "100万+"),
    ],
)
def test_fans_level_buckets(fans: int, level: str) -> None:
    assert fans_level(fans) == level


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_fans_level_never_drops_with_more_fans(a: int, b: int) -> None:
    order = ["<1万", "1万-10万", "10万-100万", "100万+"]
    low, high = sorted((a, b))
    assert order.index(fans_level(low)) <= order.index(fans_level(high))
