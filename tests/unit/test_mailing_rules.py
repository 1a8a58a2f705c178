"""The mailing rules of rules/mailing.py: valid clients and mailings, and the daily sending interval."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.mailing import (
    check_daily_interval,
    check_operator_code,
    check_tag,
    check_text,
    check_timezone,
    check_window,
    inside_daily_interval,
    next_send_time,
    normalise_phone,
    operator_code_of,
)

ZONES = [
    "Europe/Moscow",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kolkata",
    "Pacific/Chatham",  # +12:45 / +13:45
    "UTC",
    "America/St_Johns",  # -03:30 / -02:30
]


# --- phones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "+7 912 345-67-89",
        "79123456789",
        "+79123456789",
        "8 (912) 345 67 89",
        "89123456789",
        "7-912-345-67-89",
        "7 (912) 345.67.89",
        "  +7 912 345 67 89  ",
        "9123456789",
    ],
)
def test_common_forms_of_a_phone_normalise_to_eleven_digits(raw: str) -> None:
    assert normalise_phone(raw) == "79123456789"


def test_landlines_toll_free_and_kazakh_numbers_are_plus_seven_numbers_too() -> None:
    assert normalise_phone("+7 (495) 123-45-67") == "74951234567"
    assert normalise_phone("8 800 555 35 35") == "78005553535"
    assert normalise_phone("+7 701 234 56 78") == "77012345678"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "not a phone number"),
        ("+7 912 345 67 89 ext 5", "not a phone number"),
        ("7912345678x", "not a phone number"),
        ("+7 123 456 78 90", "not a valid \\+7 number"),
        ("7912345678", "not a valid \\+7 number"),
        ("791234567890", "not a valid \\+7 number"),
        ("+7 600 123 45 67", "not a valid \\+7 number"),
    ],
)
def test_bad_phones_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_phone(raw)


@pytest.mark.parametrize("raw", ["+1 212 555 0100", "+44 20 7946 0958", "+380 44 123 4567"])
def test_numbers_of_other_countries_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a \\+7 number"):
        normalise_phone(raw)


@given(st.from_regex(r"\+?7[0-9]{10}", fullmatch=True))
def test_the_fast_path_for_the_canonical_form_agrees_with_phonenumbers(raw: str) -> None:
    number = phonenumbers.parse(raw, "RU")
    try:
        assert normalise_phone(raw) == f"7{number.national_number}"
        assert phonenumbers.is_valid_number(number) and number.country_code == 7
    except ValueError:
        assert not phonenumbers.is_valid_number(number)


def test_the_operator_code_is_the_three_digits_after_the_seven() -> None:
    assert operator_code_of("79123456789") == "912"
    with pytest.raises(ValueError, match="normalised"):
        operator_code_of("+79123456789")


def test_operator_codes_and_tags() -> None:
    assert check_operator_code(" 912 ") == "912"
    for bad in ["91", "9123", "9a2", "", "９１２"]:
        with pytest.raises(ValueError, match="3 digits"):
            check_operator_code(bad)
    assert check_tag("  vip ") == "vip"
    assert check_tag("") == ""
    assert check_tag("x" * 64) == "x" * 64
    with pytest.raises(ValueError, match="65 characters; at most 64"):
        check_tag("x" * 65)


# --- timezones, texts, windows, intervals -----------------------------------------------------


@pytest.mark.parametrize("name", [*ZONES, " Europe/Moscow "])
def test_iana_timezones_are_accepted(name: str) -> None:
    assert check_timezone(name) == name.strip()


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "europe/moscow", "../etc/passwd", "localtime", "+03:00"]
)
def test_unknown_timezones_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        check_timezone(name)


def test_texts_are_stripped_not_empty_and_bounded() -> None:
    assert check_text("  hello \n", 5) == "hello"
    with pytest.raises(ValueError, match="empty"):
        check_text(" \n\t", 5)
    with pytest.raises(ValueError, match="6 characters; at most 5"):
        check_text("hello!", 5)


def test_windows_are_aware_and_end_after_they_start() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    check_window(start, start + timedelta(seconds=1))
    with pytest.raises(ValueError, match="not after"):
        check_window(start, start)
    with pytest.raises(ValueError, match="not after"):
        check_window(start, start.astimezone(timezone(timedelta(hours=3))) - timedelta(minutes=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        check_window(start.replace(tzinfo=None), start + timedelta(hours=1))


def test_daily_intervals_are_both_or_neither_naive_and_not_empty() -> None:
    check_daily_interval(None, None)
    check_daily_interval(time(9), time(18))
    check_daily_interval(time(22), time(6))
    with pytest.raises(ValueError, match="both ends"):
        check_daily_interval(time(9), None)
    with pytest.raises(ValueError, match="both ends"):
        check_daily_interval(None, time(9))
    with pytest.raises(ValueError, match="starts and ends at 09:00"):
        check_daily_interval(time(9), time(9))
    with pytest.raises(ValueError, match="no timezone"):
        check_daily_interval(time(9, tzinfo=UTC), time(18))


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (time(21, 59), False),
        (time(22), True),
        (time(23, 59), True),
        (time(0), True),
        (time(5, 59), True),
        (time(6), False),
        (time(12), False),
    ],
)
def test_an_interval_ending_before_it_starts_runs_over_midnight(local: time, inside: bool) -> None:
    assert inside_daily_interval(local, time(22), time(6)) is inside


# --- next_send_time -------------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_no_interval_sends_now() -> None:
    now = utc(2026, 5, 1, 3)
    assert next_send_time(now, "Europe/Moscow", None, None) == now


def test_inside_the_interval_sends_now_and_outside_waits_for_the_local_opening() -> None:
    # 12:00 UTC is 15:00 in Moscow (UTC+3, no DST).
    assert next_send_time(utc(2026, 5, 1, 12), "Europe/Moscow", time(9), time(18)) == utc(2026, 5, 1, 12)
    assert next_send_time(utc(2026, 5, 1, 16), "Europe/Moscow", time(9), time(18)) == utc(2026, 5, 2, 6)
    assert next_send_time(utc(2026, 5, 1, 2), "Europe/Moscow", time(9), time(18)) == utc(2026, 5, 1, 6)


def test_an_interval_over_midnight_opens_in_the_evening() -> None:
    assert next_send_time(utc(2026, 5, 1, 12), "Europe/Moscow", time(22), time(6)) == utc(2026, 5, 1, 19)
    assert next_send_time(utc(2026, 5, 1, 1), "Europe/Moscow", time(22), time(6)) == utc(2026, 5, 1, 1)


def test_an_opening_swallowed_by_spring_forward_opens_when_the_gap_ends() -> None:
    # London 2026-03-29: 01:00 GMT jumps to 02:00 BST, so 01:30 does not exist that day.
    now = utc(2026, 3, 29, 0)
    assert next_send_time(now, "Europe/London", time(1, 30), time(3)) == utc(2026, 3, 29, 1)
    # An interval lying wholly in the gap does not exist that day: the next day's opening counts.
    assert next_send_time(now, "Europe/London", time(1, 30), time(2)) == utc(2026, 3, 30, 0, 30)


def test_an_ambiguous_opening_at_fall_back_opens_at_its_first_occurrence() -> None:
    # New York 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
    zone = "America/New_York"
    assert next_send_time(utc(2026, 11, 1, 4), zone, time(1, 30), time(3)) == utc(2026, 11, 1, 5, 30)
    # 01:45 EDT is inside [01:30, 03:00); for [01:30, 01:40) the second 01:30 (EST) is next.
    assert next_send_time(utc(2026, 11, 1, 5, 45), zone, time(1, 30), time(3)) == utc(2026, 11, 1, 5, 45)
    assert next_send_time(utc(2026, 11, 1, 5, 45), zone, time(1, 30), time(1, 40)) == utc(2026, 11, 1, 6, 30)


def test_lord_howe_moves_its_clock_by_half_an_hour() -> None:
    # 2026-10-04 02:00 local (+10:30) jumps to 02:30 (+11:00) = 2026-10-03 15:30 UTC.
    now = utc(2026, 10, 3, 15)  # 01:30 local
    assert next_send_time(now, "Australia/Lord_Howe", time(2, 15), time(4)) == utc(2026, 10, 3, 15, 30)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_send_time(datetime(2026, 5, 1), "UTC", time(9), time(18))


def local_time(instant: datetime, zone: str) -> time:
    return instant.astimezone(ZoneInfo(zone)).time()


def inside(instant: datetime, zone: str, daily_from: time, daily_until: time) -> bool:
    return inside_daily_interval(local_time(instant, zone), daily_from, daily_until)


@lru_cache
def offset_changes(zone: str, year: int) -> list[datetime]:
    """The instants in a year at which the zone's UTC offset changes (to the second)."""
    tz = ZoneInfo(zone)
    changes = []
    day = utc(year, 1, 1)
    while day.year == year:
        following = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            low, high = day, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                same = middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            changes.append(high.replace(microsecond=0))
        day = following
    return changes


minute_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
intervals = st.tuples(minute_times, minute_times).filter(lambda pair: pair[0] != pair[1])
any_instant = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant, half the time within a day and a half of one of its offset changes."""
    zone = draw(st.sampled_from(ZONES))
    changes = offset_changes(zone, draw(st.integers(2020, 2030)))
    if changes and draw(st.booleans()):
        near = draw(st.sampled_from(changes)) + timedelta(seconds=draw(st.integers(-36 * 3600, 36 * 3600)))
        return zone, near
    return zone, draw(any_instant)


@given(zone_and_instant(), intervals, st.data())
def test_next_send_time_is_the_first_instant_inside_the_interval(
    zoned: tuple[str, datetime], interval: tuple[time, time], data: st.DataObject
) -> None:
    zone, now = zoned
    daily_from, daily_until = interval
    result = next_send_time(now, zone, daily_from, daily_until)
    assert result.tzinfo == UTC
    assert result >= now
    assert result - now < timedelta(days=2)
    assert inside(result, zone, daily_from, daily_until)
    if inside(now, zone, daily_from, daily_until):
        assert result == now
        return
    assert not inside(result - timedelta(seconds=1), zone, daily_from, daily_until)
    span = int((result - now).total_seconds() // 60)
    for minutes in data.draw(st.lists(st.integers(0, span), max_size=8)):
        assert not inside(
            min(now + timedelta(minutes=minutes), result - timedelta(seconds=1)), zone, *interval
        )


def test_the_sampled_zones_change_offsets_in_the_test_years() -> None:
    assert offset_changes("Australia/Lord_Howe", 2026)
    assert offset_changes("Europe/London", 2026) == [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)]
    assert offset_changes("Europe/Moscow", 2026) == []
