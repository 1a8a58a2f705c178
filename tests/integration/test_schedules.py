"""Schedules under overload, against a real Prefect API: one run of a sweep at a time, one run after
downtime, and a killed flow run marked Crashed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from uuid import UUID

import pytest
from prefect import flow, get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelled, Pending, Scheduled

from core.settings import PROJECT_ROOT
from deployments.crashed_runs import (
    AUTOMATION_NAME,
    crash_automation,
    crash_orphaned_runs,
    ensure_crash_automation,
)
from deployments.late_runs import skip_late_runs
from deployments.serve import schedule_sweeps
from deployments.specs import DeploymentSpec, build_deployment, load_specs

pytestmark = pytest.mark.usefixtures("prefect_harness")

T = TypeVar("T")


@flow
def sweep() -> None:
    """A stand-in sweep: never run here, only scheduled."""


def sweep_deployment(name: str) -> RunnerDeployment:
    """A deployment of `sweep` under the sweep rule, every minute, with a name of its own."""
    spec = DeploymentSpec(
        name=name,
        entrypoint="tests/integration/test_schedules.py:sweep",
        work_pool="collect",
        schedules=[{"interval": 60}],
    )
    return build_deployment(spec)


async def wait_for(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns a value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (value := await check()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.5)
    return value


async def runs_of(client: PrefectClient, deployment_id: UUID) -> list[FlowRun]:
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
    )


def test_a_sweep_run_that_comes_due_while_one_runs_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    (spec,) = [spec for spec in load_specs() if spec.name == "dispatch-mailings"]
    deployment = build_deployment(replace(spec, name=f"dispatch-{uuid.uuid4().hex[:6]}"))

    async def scenario() -> tuple[StateType, StateType]:
        deployment_id = await deployment.aapply()
        async with get_client() as client:
            first, second = [
                await client.create_flow_run_from_deployment(deployment_id, state=Scheduled())
                for _ in range(2)
            ]
            await client.set_flow_run_state(first.id, Pending())
            await client.set_flow_run_state(second.id, Pending())
            states = [(await client.read_flow_run(run.id)).state for run in (first, second)]
            await client.set_flow_run_state(first.id, Cancelled())  # gives its slot back
        return states[0].type, states[1].type

    assert asyncio.run(scenario()) == (StateType.PENDING, StateType.CANCELLED)


def test_serve_starting_crashes_what_the_last_serve_left_running_and_frees_the_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    deployment = sweep_deployment(f"sweep-{uuid.uuid4().hex[:6]}")

    async def scenario() -> tuple[int, StateType, StateType]:
        deployment_id = await deployment.aapply()
        async with get_client() as client:
            orphan = await client.create_flow_run_from_deployment(deployment_id, state=Scheduled())
            await client.set_flow_run_state(orphan.id, Pending())  # holds the sweep's one slot
            crashed = await crash_orphaned_runs([deployment.full_name, "no-such/deployment"])
            after = await client.create_flow_run_from_deployment(deployment_id, state=Scheduled())
            await client.set_flow_run_state(after.id, Pending())
            states = [(await client.read_flow_run(run.id)).state.type for run in (orphan, after)]
            await client.set_flow_run_state(after.id, Cancelled())
        return crashed, *states

    assert asyncio.run(scenario()) == (1, StateType.CRASHED, StateType.PENDING)


def test_after_downtime_a_sweep_runs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten late runs of one sweep (as the scheduler left them during downtime): nine skipped, one remains,
    and a run started by hand is left alone."""
    monkeypatch.chdir(PROJECT_ROOT)
    name = f"sweep-{uuid.uuid4().hex[:6]}"

    deployment = sweep_deployment(name)

    async def scenario() -> tuple[dict[str, int], list[FlowRun], list[FlowRun], FlowRun]:
        deployment_id = await deployment.aapply()
        now = datetime.now(UTC)
        async with get_client() as client:
            response = await client._client.post(  # the scheduler's own code, backfilling the downtime
                f"/deployments/{deployment_id}/schedule",
                json={"start_time": (now - timedelta(minutes=10)).isoformat(), "end_time": now.isoformat()},
            )
            response.raise_for_status()
            by_hand = await client.create_flow_run_from_deployment(
                deployment_id, state=Scheduled(scheduled_time=now - timedelta(minutes=5))
            )
            late = [run for run in await runs_of(client, deployment_id) if run.expected_start_time <= now]
            skipped = await skip_late_runs([deployment.full_name, "no-such/deployment"], now=now)
            after = [run for run in await runs_of(client, deployment_id) if run.expected_start_time <= now]
            return skipped, late, after, by_hand

    skipped, late, after, by_hand = asyncio.run(scenario())
    assert len([run for run in late if run.auto_scheduled]) == 10
    assert skipped == {f"sweep/{name}": 9}
    still_scheduled = [run for run in after if run.state.type == StateType.SCHEDULED]
    assert len([run for run in still_scheduled if run.auto_scheduled]) == 1
    newest = max((run for run in late if run.auto_scheduled), key=lambda run: run.expected_start_time)
    assert {run.id for run in still_scheduled} == {newest.id, by_hand.id}
    assert {run.state.name for run in after if run.state.type != StateType.SCHEDULED} == {"Skipped"}
    # Completed, not Cancelled: Prefect's cancellation clean-up visits every Cancelled run of the last day
    assert {run.state.type for run in after if run.state.type != StateType.SCHEDULED} == {StateType.COMPLETED}


def test_serve_has_a_sweeps_next_runs_made_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not left to the scheduler's next pass (every 5 minutes in the demo)."""
    monkeypatch.chdir(PROJECT_ROOT)
    deployment = sweep_deployment(f"sweep-{uuid.uuid4().hex[:6]}")

    async def scenario() -> tuple[list[FlowRun], datetime, list[FlowRun]]:
        deployment_id = await deployment.aapply()
        async with get_client() as client:
            before = await runs_of(client, deployment_id)
            asked = datetime.now(UTC)
            await schedule_sweeps(["no-such/deployment", deployment.full_name])
            return before, asked, await runs_of(client, deployment_id)

    before, asked, after = asyncio.run(scenario())
    assert before == []
    assert after and all(run.auto_scheduled and run.expected_start_time >= asked for run in after)


def test_the_crash_automation_is_installed_once_and_kept_up_to_date() -> None:
    async def scenario() -> tuple[UUID, UUID, list[timedelta]]:
        first = await ensure_crash_automation(heartbeat_seconds=30, missed_heartbeats=3)
        again = await ensure_crash_automation(heartbeat_seconds=60, missed_heartbeats=2)
        async with get_client() as client:
            installed = await client.read_automations_by_name(AUTOMATION_NAME)
            for automation in installed:
                await client.delete_automation(automation.id)
        return first, again, [automation.trigger.within for automation in installed]

    first, again, windows = asyncio.run(scenario())
    assert first == again
    assert windows == [timedelta(seconds=120)]


HANGING_FLOW = """
import time
from prefect import flow

@flow(name="{name}")
def hang() -> None:
    print("running", flush=True)
    time.sleep(600)

hang()
"""


@pytest.fixture
def crash_after_35_s() -> Iterator[None]:
    """The crash automation with a 35 s silence (heartbeats come every 30 s), removed after the test."""

    async def create() -> UUID:
        async with get_client() as client:
            return await client.create_automation(crash_automation(timedelta(seconds=35)))

    async def delete(automation_id: UUID) -> None:
        async with get_client() as client:
            await client.delete_automation(automation_id)

    automation_id = asyncio.run(create())
    yield
    asyncio.run(delete(automation_id))


async def heartbeats_of(client: PrefectClient, flow_run_id: UUID) -> int | None:
    """How many heartbeat events of the flow run the server has recorded, or None for none yet."""
    response = await client._client.post(
        "/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
            }
        },
    )
    response.raise_for_status()
    return len(response.json()["events"]) or None


@pytest.mark.usefixtures("crash_after_35_s")
def test_a_flow_run_whose_process_was_killed_is_marked_crashed(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
    }
    script = tmp_path / "hang.py"
    name = f"hang-{uuid.uuid4().hex[:6]}"
    script.write_text(HANGING_FLOW.format(name=name))
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "running"

        async def scenario() -> FlowRun:
            async with get_client() as client:

                async def running() -> FlowRun | None:
                    runs = await client.read_flow_runs(
                        flow_filter=FlowFilter(name=FlowFilterName(any_=[name]))
                    )
                    return next((run for run in runs if run.state and run.state.is_running()), None)

                run = await wait_for(running, 30, "the flow run")
                await wait_for(lambda: heartbeats_of(client, run.id), 60, "a heartbeat")
                process.send_signal(signal.SIGKILL)
                process.wait()

                async def crashed() -> FlowRun | None:
                    current = await client.read_flow_run(run.id)
                    return current if current.state.type == StateType.CRASHED else None

                return await wait_for(crashed, 120, "Crashed")

        run = asyncio.run(scenario())
        assert "no heartbeat for 35 s" in run.state.message
    finally:
        process.kill()
        process.wait()
