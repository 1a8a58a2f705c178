"""serve starts a run when the Prefect server announces it, not at its runner's next poll.

Prefect's runner finds runs to start by polling the server every ``SWITCHYARD_SERVE__POLL_SECONDS``;
each poll is an API call of serve and a query at the server, all day long, so a short poll (for a
quick start) made most of an idle platform's polling cost. The server announces what the runner
waits for on its event stream: a new run (``prefect.flow-run.Scheduled``: run_deployment, a sweep's
run the scheduler made due) and a run that ended (a process slot that may have freed for a run
waiting behind serve's limit). `start_announced_runs` listens to that stream (a websocket, as
Prefect's runner already does for cancellations) and has the runner poll at once for each burst
of announcements, so the timed poll is only the fallback (a lost event stream, runs scheduled for
later, which the runner takes up to its 10 s prefetch early).

It calls one Prefect 3.8.8 internal, the runner's ``_scheduled_run_poller`` and its
``_get_and_submit_flow_runs`` (the poll itself); tests/integration/test_announced_runs.py fails if
that changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.runner import Runner

logger = logging.getLogger(__name__)

SCHEDULED = "prefect.flow-run.Scheduled"
ENDED = [f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Crashed", "Cancelled", "TimedOut")]
RECONNECT_SECONDS = 5.0


async def _poller(runner: Runner) -> Any:
    """The runner's poller, once the runner has started it."""
    while (poller := getattr(runner, "_scheduled_run_poller", None)) is None:
        await asyncio.sleep(0.05)
    return poller


async def _listen(wake: asyncio.Event) -> None:
    """Set ``wake`` for every announcement on the server's event stream; reconnect when it breaks."""
    while True:
        try:
            # a filter per connection: the subscriber moves its time window forward as it reconnects
            announcements = EventFilter(event=EventNameFilter(name=[SCHEDULED, *ENDED]))
            async with get_events_subscriber(filter=announcements) as events:
                async for _event in events:
                    wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server restarted or refused: the timed poll goes on meanwhile
            logger.warning(
                "lost the Prefect event stream (%s); listening again in %.0f s", exc, RECONNECT_SECONDS
            )
        await asyncio.sleep(RECONNECT_SECONDS)


async def start_announced_runs(runner: Runner) -> None:
    """For ever: poll ``runner`` for runs to start once after each burst of announcements."""
    poller = await _poller(runner)
    wake = asyncio.Event()
    listener = asyncio.create_task(_listen(wake))
    try:
        while True:
            await wake.wait()
            wake.clear()  # announcements that arrive during this poll make one more poll
            try:
                await poller._get_and_submit_flow_runs()
            except Exception as exc:  # a busy server: the timed poll tries again
                logger.warning("could not poll for announced runs (%s)", exc)
    finally:
        listener.cancel()
