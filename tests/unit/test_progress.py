"""The shared progress kit: `share` and the throttled progress reporter that never fails the work."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks.artifacts
from core.progress import share
from tasks.artifacts import ProgressReporter


def test_share_of_nothing_to_do_is_all_done_and_stays_within_bounds() -> None:
    assert share(0, 0) == 1.0
    assert share(1, 4) == 0.25
    assert share(5, 4) == 1.0 and share(-1, 4) == 0.0


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_share_is_always_a_fraction(done: int, total: int) -> None:
    assert 0.0 <= share(done, total) <= 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_updates_are_throttled_and_forced_ones_always_go_out(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[float, str]] = []

    async def create(*, progress: float, description: str) -> str:
        published.append((progress, description))
        return "artifact"

    async def update(*, artifact_id: str, progress: float, description: str) -> None:
        published.append((progress, description))

    monkeypatch.setattr(tasks.artifacts, "acreate_progress_artifact", create)
    monkeypatch.setattr(tasks.artifacts, "aupdate_progress_artifact", update)
    clock, measured = Clock(), iter(range(100))
    reporter = ProgressReporter(lambda: (next(measured), 4, "searches"), every=1.0, clock=clock)

    async def run() -> None:
        await reporter.update()
        clock.now = 0.5
        await reporter.update()  # too soon: neither measured nor published
        clock.now = 1.0
        await reporter.update()
        await reporter.update(force=True)

    asyncio.run(run())
    assert published == [(0.0, "searches"), (25.0, "searches"), (50.0, "searches")]


def test_a_failing_artifact_write_or_measure_is_logged_and_never_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refused(**_: object) -> None:
        raise RuntimeError("HTTP 500 Internal Server Error")

    def broken() -> tuple[int, int, str]:
        raise OSError("database gone")

    monkeypatch.setattr(tasks.artifacts, "acreate_progress_artifact", refused)
    asyncio.run(ProgressReporter(lambda: (1, 2, "x"), every=1.0).update())
    asyncio.run(ProgressReporter(broken, every=1.0).update())
    assert "HTTP 500" in caplog.text and "database gone" in caplog.text
