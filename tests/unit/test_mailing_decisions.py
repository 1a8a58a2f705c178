"""Property tests for the per-message decisions of a dispatch (decide, not_yet, too_late) and backoff."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.retry import backoff_delay
from core.settings import MailingSettings
from rules.mailing import (
    DAILY_INTERVAL_CLOSED,
    WINDOW_CLOSED,
    DueMessage,
    MessageStatus,
    SendResult,
    decide,
    inside_daily_interval,
    not_yet,
    send_deadline,
    too_late,
)

ZONE = ZoneInfo("Europe/Moscow")

nows = st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC))
offsets = st.floats(min_value=-3 * 86400, max_value=3 * 86400, allow_nan=False)
intervals = st.one_of(
    st.just((None, None)),
    st.tuples(st.times(), st.times()).filter(lambda pair: pair[0] != pair[1]),
)
mailing_settings = st.builds(
    MailingSettings,
    retry_backoff=st.floats(0.01, 100),
    max_retry_delay=st.floats(0.01, 3600),
    end_margin=st.floats(0, 600),
)
results = st.one_of(
    st.builds(SendResult, st.just("sent"), st.just('{"code": 0}')),
    st.builds(SendResult, st.just("failed"), st.none(), st.just("rejected")),
    st.builds(
        SendResult,
        st.just("retry"),
        st.none(),
        st.just("unavailable"),
        st.one_of(st.none(), st.floats(0, 3600)),
    ),
)


def message(
    ends_at: datetime, interval: tuple[time | None, time | None] = (None, None), attempts: int = 0
) -> DueMessage:
    return DueMessage(
        id=1,
        mailing_id=1,
        client_id=1,
        phone="79120000001",
        text="hi",
        timezone=ZONE.key,
        ends_at=ends_at,
        daily_from=interval[0],
        daily_until=interval[1],
        attempts=attempts,
    )


@given(nows, offsets, mailing_settings)
def test_too_late_is_exactly_from_the_send_deadline_on(
    now: datetime, offset: float, settings: MailingSettings
) -> None:
    due = message(now + timedelta(seconds=offset))
    assert too_late(due, now, settings) == (now >= send_deadline(due, settings))
    assert send_deadline(due, settings) == due.ends_at - timedelta(seconds=settings.end_margin)


@given(nows, offsets, intervals, mailing_settings)
def test_not_yet_sends_only_inside_the_window_and_the_daily_interval(
    now: datetime, offset: float, interval: tuple[time | None, time | None], settings: MailingSettings
) -> None:
    due = message(now + timedelta(seconds=offset), interval)
    outcome = not_yet(due, now, settings)
    if too_late(due, now, settings):
        assert outcome is not None and (outcome.status, outcome.error) == (
            MessageStatus.FAILURE,
            WINDOW_CLOSED,
        )
    elif outcome is None:  # send now: inside the interval, if there is one
        local = now.astimezone(ZONE).time()
        daily_from, daily_until = interval
        assert (
            daily_from is None or daily_until is None or inside_daily_interval(local, daily_from, daily_until)
        )
    elif outcome.status == MessageStatus.NEW:  # deferred to the opening, before the end
        assert outcome.retry_at is not None and now < outcome.retry_at < due.ends_at
        assert not outcome.tried
    else:
        assert (outcome.status, outcome.error) == (MessageStatus.FAILURE, DAILY_INTERVAL_CLOSED)


@given(nows, offsets, results, st.integers(0, 40), mailing_settings)
def test_decide_sends_fails_or_retries_before_the_deadline(
    now: datetime, offset: float, result: SendResult, attempts: int, settings: MailingSettings
) -> None:
    due = message(now + timedelta(seconds=offset), attempts=attempts)
    outcome = decide(due, result, now, settings)
    assert outcome.id == due.id and outcome.tried and outcome.answer == result.answer
    if result.outcome == "sent":
        assert (outcome.status, outcome.sent, outcome.retry_at) == (MessageStatus.SENT, True, None)
        return
    assert not outcome.sent
    if result.outcome == "failed":
        assert (outcome.status, outcome.error) == (MessageStatus.FAILURE, result.error)
        return
    delay = backoff_delay(
        attempts, base=settings.retry_backoff, cap=settings.max_retry_delay, retry_after=result.retry_after
    )
    retry_at = now + timedelta(seconds=delay)
    if too_late(due, retry_at, settings):
        assert outcome.status == MessageStatus.FAILURE and WINDOW_CLOSED in (outcome.error or "")
    else:
        assert (outcome.status, outcome.retry_at) == (MessageStatus.NEW, retry_at)


@given(st.integers(-3, 60), st.floats(0.001, 100), st.floats(0.001, 3600))
def test_backoff_doubles_up_to_its_cap(attempt: int, base: float, cap: float) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap)
    assert 0 < delay <= cap
    assert delay == min(cap, base * 2 ** max(attempt, 0))
    assert backoff_delay(attempt + 1, base=base, cap=cap) >= delay


@given(st.integers(0, 60), st.floats(-10, 10_000, allow_nan=False), st.floats(0.001, 3600))
def test_backoff_follows_retry_after_within_zero_and_the_cap(
    attempt: int, retry_after: float, cap: float
) -> None:
    delay = backoff_delay(attempt, base=1.0, cap=cap, retry_after=retry_after)
    assert delay == min(max(retry_after, 0.0), cap)
