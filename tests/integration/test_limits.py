"""The shared limiter in a real database: every window holds under concurrent reservations."""

from __future__ import annotations

import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.pacing import LimitKey, Window
from db.limits import FORGET_AFTER, LimitWindow, reserve

Sessions = sessionmaker[Session]
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def new_key() -> LimitKey:
    return LimitKey("growth", account=uuid.uuid4().hex, action="like")


def reserve_at(sessions: Sessions, key: LimitKey, windows: list[Window], wanted: int, now: datetime) -> int:
    with sessions.begin() as session:
        return reserve(session, key=key, windows=windows, wanted=wanted, now=now).granted


def test_concurrent_reservations_share_one_limit_exactly(sessions: Sessions) -> None:
    key, windows = new_key(), [Window(57, 3600), Window(585, 86_400)]
    with ThreadPoolExecutor(8) as pool:
        granted = list(pool.map(lambda _: reserve_at(sessions, key, windows, 3, START), range(40)))
    assert sum(granted) == 57  # 120 wanted, the hour's 57 granted, not one more
    assert reserve_at(sessions, key, windows, 3, START + timedelta(hours=1)) == 3  # the next hour


def test_keys_do_not_share_their_limits(sessions: Sessions) -> None:
    windows = [Window(2, 1)]
    first, second = new_key(), new_key()
    assert reserve_at(sessions, first, windows, 5, START) == 2
    assert reserve_at(sessions, second, windows, 5, START) == 2


def test_ended_windows_are_deleted_a_while_after_a_new_one_begins(sessions: Sessions) -> None:
    key, windows = new_key(), [Window(10, 1)]
    for second in (0, 1, 2, FORGET_AFTER + 2):
        reserve_at(sessions, key, windows, 1, START + timedelta(seconds=second))
    with sessions.begin() as session:
        starts = session.scalars(select(LimitWindow.starts).where(LimitWindow.account == key.account)).all()
    # the windows of seconds 0 and 1 ended FORGET_AFTER ago: gone
    assert sorted(starts) == [int(START.timestamp()) + s for s in (2, FORGET_AFTER + 2)]


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[Window], list[tuple[int, int]]]:
    lengths = draw(st.lists(st.sampled_from([1, 10, 60, 10_800]), min_size=1, max_size=3, unique=True))
    windows = [Window(draw(st.integers(1, 30)), seconds) for seconds in lengths]
    reservations = draw(st.lists(st.tuples(st.integers(0, 120), st.integers(1, 8)), min_size=1, max_size=40))
    return windows, reservations  # (seconds after START, wanted)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans())
def test_no_window_ever_holds_more_than_its_limit(
    sessions: Sessions, plan: tuple[list[Window], list[tuple[int, int]]]
) -> None:
    windows, reservations = plan
    key = new_key()

    def one(reservation: tuple[int, int]) -> tuple[float, int]:
        now = START + timedelta(seconds=reservation[0])
        return now.timestamp(), reserve_at(sessions, key, windows, reservation[1], now)

    with ThreadPoolExecutor(4) as pool:
        granted = list(pool.map(one, reservations))
    for window in windows:
        per_window: dict[int, int] = defaultdict(int)
        for timestamp, count in granted:
            per_window[window.start(timestamp)] += count
        assert max(per_window.values()) <= window.limit


def test_a_limit_seen_in_headers_holds_for_every_worker_until_its_reset(sessions) -> None:
    from datetime import UTC, datetime, timedelta

    from core.pacing import LimitKey
    from db.limits import saw_limit, wait_until

    key = LimitKey("microblog", "42", "posts")
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    reset = now + timedelta(minutes=15)
    with sessions.begin() as session:
        assert wait_until(session, key=key, now=now) is None
        saw_limit(session, key=key, limit=100, remaining=0, reset_at=reset, now=now)
        saw_limit(session, key=key, limit=100, remaining=5, reset_at=reset, now=now)  # an older answer, late
        assert wait_until(session, key=key, now=now) == reset
        assert wait_until(session, key=key, now=reset) is None
        saw_limit(
            session, key=key, limit=100, remaining=99, reset_at=reset + timedelta(minutes=15), now=reset
        )
        assert wait_until(session, key=key, now=reset) is None
        saw_limit(
            session, key=key, limit=100, remaining=3, reset_at=reset, now=reset
        )  # the old window: ignored
        assert wait_until(session, key=LimitKey("microblog", "43", "posts"), now=now) is None
