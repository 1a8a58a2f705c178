"""The windows' arithmetic (property tests) and the pacer's use of reserved permits."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.pacing import Pacer, Reservation, Window, check_windows, grant

LENGTHS = st.sampled_from([1, 60, 3600, 10_800, 86_400])


@st.composite
def windows_and_use(draw: st.DrawFn) -> tuple[list[Window], dict[int, int]]:
    lengths = draw(st.lists(LENGTHS, min_size=1, max_size=4, unique=True))
    windows = [Window(draw(st.integers(0, 600)), seconds) for seconds in lengths]
    used = {w.seconds: draw(st.integers(0, w.limit)) for w in windows}
    return windows, used


@given(windows_and_use(), st.integers(0, 1000), st.floats(0, 4e9))
def test_a_grant_fits_every_window_and_takes_all_the_room_there_is(
    setup: tuple[list[Window], dict[int, int]], wanted: int, timestamp: float
) -> None:
    windows, used = setup
    reservation = grant(windows, used, wanted, timestamp)
    assert 0 <= reservation.granted <= wanted
    assert all(used[w.seconds] + reservation.granted <= w.limit for w in windows)
    if reservation.granted < wanted:  # short only because some window is full now
        assert any(used[w.seconds] + reservation.granted == w.limit for w in windows)
        assert reservation.retry_at is not None and reservation.retry_at > timestamp
    else:
        assert reservation.retry_at is None
    assert timestamp < reservation.valid_until <= timestamp + min(w.seconds for w in windows)


@given(st.integers(1, 100_000), st.floats(0, 4e9))
def test_a_window_starts_on_a_multiple_of_its_length(seconds: int, timestamp: float) -> None:
    start = Window(1, seconds).start(timestamp)
    assert start % seconds == 0 and start <= timestamp < start + seconds


def test_retry_waits_for_the_last_full_window() -> None:
    windows = [Window(57, 3600), Window(585, 86_400)]
    reservation = grant(windows, {3600: 57, 86_400: 585}, 1, timestamp=90_000.0)  # hour 25, day 1
    assert (reservation.granted, reservation.retry_at, reservation.valid_until) == (0, 172_800, 93_600)


@pytest.mark.parametrize(
    ("windows", "message"),
    [([], "at least one window"), ([Window(1, 60), Window(2, 60)], "same length")],
)
def test_bad_window_sets_are_refused(windows: list[Window], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_windows(windows)


def test_a_window_needs_a_length() -> None:
    with pytest.raises(ValueError, match="length"):
        Window(5, 0)


class FakeLimiter:
    """Grants from a queue of answers, on a clock the test moves."""

    def __init__(self, answers: list[tuple[int, float]]) -> None:
        self.now = 0.0
        self.answers = answers
        self.asked: list[int] = []

    async def reserve(self, wanted: int) -> Reservation:
        self.asked.append(wanted)
        granted, valid_for = self.answers.pop(0)
        return Reservation(granted, valid_until=self.now + valid_for, retry_at=self.now)


def test_the_pacer_spends_a_chunk_then_reserves_again() -> None:
    limiter = FakeLimiter([(3, 1.0), (3, 1.0)])
    pacer = Pacer(limiter.reserve, chunk=3, clock=lambda: limiter.now)

    async def take(n: int) -> None:
        for _ in range(n):
            await pacer.acquire()

    asyncio.run(take(4))
    assert limiter.asked == [3, 3]


def test_the_pacer_drops_permits_left_when_their_window_ends() -> None:
    limiter = FakeLimiter([(5, 1.0), (5, 1.0)])
    pacer = Pacer(limiter.reserve, chunk=5, clock=lambda: limiter.now)

    async def take_across_a_window_end() -> None:
        await pacer.acquire()
        limiter.now = 1.0  # four permits left, but their window is over
        await pacer.acquire()

    asyncio.run(take_across_a_window_end())
    assert limiter.asked == [5, 5]


def test_the_pacer_asks_again_when_nothing_was_granted() -> None:
    limiter = FakeLimiter([(0, 1.0), (1, 1.0)])
    asyncio.run(Pacer(limiter.reserve, clock=lambda: limiter.now).acquire())
    assert limiter.asked == [1, 1]
