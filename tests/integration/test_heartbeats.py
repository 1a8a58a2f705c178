"""Heartbeats of runs started warm (deployments/heartbeats.py) against a real Prefect API and its
automations: none after the final state, none from a short run, and a run killed before its first
heartbeat still marked Crashed (its Running state opens the crash automation's window)."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL

from core.settings import PROJECT_ROOT
from deployments.crashed_runs import crash_automation
from tests.integration.test_schedules import wait_for

pytestmark = pytest.mark.usefixtures("prefect_harness")

# a flow run in a process of its own, with this project's heartbeats; BEAT s between heartbeats
FLOW = """
import sys, time
from prefect import flow, flow_engine
from deployments import heartbeats

heartbeats.install()
BEAT = int(sys.argv[1])
if BEAT < 30:  # Prefect's minimum, lowered so the test need not wait for real heartbeats
    flow_engine.MINIMUM_HEARTBEAT_INTERVAL = BEAT
    flow_engine.FlowRunEngine.heartbeat_seconds = property(lambda self: BEAT)

@flow(name="{name}")
def work(seconds: float) -> None:
    print("running", flush=True)
    time.sleep(seconds)

work(float(sys.argv[2]))
"""


@pytest.fixture
def crash_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """The crash automation with a silence of ``request.param`` seconds, removed after the test."""

    async def create() -> UUID:
        async with get_client() as client:
            return await client.create_automation(crash_automation(timedelta(seconds=request.param)))

    async def delete(automation_id: UUID) -> None:
        async with get_client() as client:
            await client.delete_automation(automation_id)

    automation_id = asyncio.run(create())
    yield
    asyncio.run(delete(automation_id))


def start_flow(tmp_path: Path, beat: int, seconds: float) -> tuple[subprocess.Popen[str], str]:
    """The flow above in a new process, once it says it runs; and its flow's name."""
    name = f"beat-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "beat.py"
    script.write_text(FLOW.format(name=name))
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, str(script), str(beat), str(seconds)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "running"
    return process, name


async def run_of(client: PrefectClient, name: str) -> FlowRun:
    runs = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
    assert len(runs) == 1
    return runs[0]


async def events_of(client: PrefectClient, flow_run_id: UUID) -> list[dict[str, Any]]:
    """Every event about the flow run (its own and the automations'), oldest first."""
    response = await client._client.post(
        "/events/filter",
        json={
            "filter": {"any_resource": {"id": [f"prefect.flow-run.{flow_run_id}"]}, "order": "ASC"},
            "limit": 50,
        },
    )
    response.raise_for_status()
    return list(response.json()["events"])


@pytest.mark.parametrize("crash_after", [10], indirect=True)  # Prefect's least
@pytest.mark.usefixtures("crash_after")
def test_heartbeats_reach_the_server_before_the_final_state_and_the_automation_leaves_the_run_alone(
    tmp_path: Path,
) -> None:
    process, name = start_flow(tmp_path, beat=3, seconds=10)
    assert process.wait(timeout=60) == 0

    async def scenario() -> tuple[FlowRun, list[dict[str, Any]]]:
        async with get_client() as client:
            run = await run_of(client, name)
            await asyncio.sleep(20)  # the automation's 10 s, its 5 s evaluation step, and some
            return await client.read_flow_run(run.id), await events_of(client, run.id)

    run, events = asyncio.run(scenario())
    assert run.state is not None and run.state.type == StateType.COMPLETED
    names = [event["event"] for event in events]
    completed = next(event for event in events if event["event"] == "prefect.flow-run.Completed")
    beats = [event for event in events if event["event"] == "prefect.flow-run.heartbeat"]
    assert 2 <= len(beats) <= 4, names  # at 3, 6 and 9 s
    running = next(event for event in events if event["event"] == "prefect.flow-run.Running")
    first = datetime.fromisoformat(beats[0]["occurred"]) - datetime.fromisoformat(running["occurred"])
    assert first >= timedelta(seconds=2), first  # none as the run starts (Prefect's own sends one then)
    assert all(beat["received"] < completed["received"] for beat in beats), names
    assert not [n for n in names if n.startswith("prefect-cloud.automation") or "automation" in n], names


@pytest.mark.parametrize("crash_after", [10], indirect=True)
@pytest.mark.usefixtures("crash_after")
def test_a_run_shorter_than_a_heartbeat_sends_none(tmp_path: Path) -> None:
    process, name = start_flow(tmp_path, beat=30, seconds=0.2)
    assert process.wait(timeout=60) == 0

    async def scenario() -> tuple[FlowRun, list[str]]:
        async with get_client() as client:
            run = await run_of(client, name)
            await asyncio.sleep(20)
            return await client.read_flow_run(run.id), [e["event"] for e in await events_of(client, run.id)]

    run, names = asyncio.run(scenario())
    assert run.state is not None and run.state.type == StateType.COMPLETED
    assert "prefect.flow-run.Running" in names and "prefect.flow-run.heartbeat" not in names, names
    assert not [n for n in names if "automation" in n], names


@pytest.mark.parametrize("crash_after", [10], indirect=True)
@pytest.mark.usefixtures("crash_after")
def test_a_run_killed_before_its_first_heartbeat_is_marked_crashed(tmp_path: Path) -> None:
    process, name = start_flow(tmp_path, beat=30, seconds=600)
    try:

        async def scenario() -> FlowRun:
            async with get_client() as client:

                async def running() -> FlowRun | None:
                    run = await run_of(client, name)
                    return run if run.state and run.state.is_running() else None

                run = await wait_for(running, 30, "the flow run")
                process.send_signal(signal.SIGKILL)
                process.wait()

                async def crashed() -> FlowRun | None:
                    current = await client.read_flow_run(run.id)
                    return current if current.state and current.state.type == StateType.CRASHED else None

                return await wait_for(crashed, 60, "Crashed")

        started = time.monotonic()
        run = asyncio.run(scenario())
        assert run.state is not None and "no heartbeat for 10 s" in (run.state.message or "")
        assert time.monotonic() - started < 35  # from its Running state: a heartbeat would come at 30 s
    finally:
        process.kill()
        process.wait()


def test_prefect_clients_share_one_tls_context_and_other_code_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client import orchestration

    from deployments import prefect_tls

    built: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(create(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    # Prefect's own module, whatever an earlier test of this process installed; restored after the test
    monkeypatch.setattr(orchestration, "ssl", ssl)
    prefect_tls._context.cache_clear()
    for _ in range(3):
        get_client(sync_client=True)
    assert len(built) == 3  # Prefect's own way: one context per client
    prefect_tls.share_tls_contexts()
    for _ in range(3):
        get_client(sync_client=True)
        get_client()
    assert len(built) == 4  # one more, shared by the six clients
    assert built[-1].verify_mode == ssl.CERT_REQUIRED and built[-1].check_hostname
    ssl.create_default_context()
    assert len(built) == 5  # the rest of the process builds its own
    prefect_tls._context.cache_clear()
