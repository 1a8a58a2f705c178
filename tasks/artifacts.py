"""Prefect UI artifacts shared by the domains. Reporting never fails the work it reports on: a write
the Prefect API refuses (down, HTTP 500, …) is logged and skipped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from core.progress import share

Measure = Callable[[], tuple[int, int, str]]  # (done, total, description), read in a worker thread


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


async def report(write: Awaitable[object], what: str) -> bool:
    """Await an artifact write; a failure is logged as a warning, never raised. Whether it was written."""
    try:
        await write
    except Exception as exc:  # reporting must not fail the work
        _logger().warning("could not publish the %s (%s); the work goes on", what, exc or type(exc).__name__)
        return False
    return True


class ProgressReporter:
    """The current run's progress artifact, updated at most every ``every`` seconds; never raises."""

    def __init__(
        self, measure: Measure, *, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._measure = measure
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._artifact_id: UUID | None = None

    async def update(self, *, force: bool = False) -> None:
        """Measure and publish, unless the last update was under ``every`` seconds ago (``force``: always)."""
        now = self._clock()
        if not force and self._last is not None and now - self._last < self._every:
            return
        self._last = now
        try:
            done, total, description = await asyncio.to_thread(self._measure)
        except Exception as exc:
            _logger().warning("could not measure progress (%s); the work goes on", exc)
            return
        await report(self._publish(100.0 * share(done, total), description), "progress artifact")

    async def _publish(self, progress: float, description: str) -> None:
        if self._artifact_id is None:
            self._artifact_id = await acreate_progress_artifact(progress=progress, description=description)
        else:
            await aupdate_progress_artifact(
                artifact_id=self._artifact_id, progress=progress, description=description
            )
