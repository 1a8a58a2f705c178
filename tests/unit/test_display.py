"""Times, durations and counts as people read them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.display import duration, moment, plural


def test_moments_are_to_the_second_with_their_zone() -> None:
    when = datetime(2026, 12, 1, 15, 42, 11, 900_000, tzinfo=UTC)
    assert moment(when) == "2026-12-01 15:42:11 UTC"
    assert moment(when, ZoneInfo("Europe/Moscow")) == "2026-12-01 18:42:11 MSK"
    assert moment(None) == "—"


def test_durations_read_like_speech() -> None:
    assert [duration(s) for s in (0.42, 9.94, 42, 60, 1534.6, 3600, 11_100)] == [
        "0.4 s",
        "9.9 s",
        "42 s",
        "1 min",
        "25 min 35 s",
        "1 h",
        "3 h 5 min",
    ]


@given(st.floats(10, 10**6))
def test_a_duration_never_shows_a_fraction_past_ten_seconds(seconds: float) -> None:
    text = duration(seconds)
    assert "." not in text and text.split()[0].isdigit()


def test_counts_agree_with_their_noun() -> None:
    assert [plural(n, "mailing") for n in (0, 1, 2, 12_000)] == [
        "0 mailings",
        "1 mailing",
        "2 mailings",
        "12,000 mailings",
    ]
    assert plural(3, "search", "searches") == "3 searches"
