"""serve starts a run the Prefect server announces without waiting for its timed poll
(deployments/announced_runs.py); it fails if the runner internal it calls changes."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.objects import StateType

from deployments.serve import StoppingRunner
from tests.integration.warm_flow import where_it_runs

POLL = 60.0  # the runner's timed poll: far longer than the test waits


async def seconds_to_pick_up(announced: bool, out: Path) -> float | None:
    """Start a runner polling every `POLL` s, start a run once it has polled, and time the run's way
    out of Scheduled (None: still Scheduled after 10 s)."""
    runner = StoppingRunner(announced=announced, query_seconds=POLL, limit=2)
    name = f"announced-{uuid.uuid4().hex[:6]}"
    deployment_id = await runner.aadd_flow(where_it_runs, name=name, parameters={"out": str(out)})
    serving = asyncio.create_task(runner.start())
    try:
        await asyncio.sleep(3)  # the runner is up and has made its first poll
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(deployment_id)
            started = time.monotonic()
            while time.monotonic() - started < 10:
                state = (await client.read_flow_run(run.id)).state
                if state is not None and state.type is not StateType.SCHEDULED:
                    return time.monotonic() - started
                await asyncio.sleep(0.05)
            return None
    finally:
        await runner.astop()
        await asyncio.wait_for(serving, 30)


@pytest.mark.usefixtures("prefect_harness")
def test_an_announced_run_is_picked_up_at_once_and_without_announcements_it_waits_for_the_poll(
    tmp_path: Path,
) -> None:
    picked_up = asyncio.run(seconds_to_pick_up(True, tmp_path / "announced.json"))
    assert picked_up is not None and picked_up < 5
    assert asyncio.run(seconds_to_pick_up(False, tmp_path / "polled.json")) is None
