"""The process worker of deployments/worker.py, run as `make worker` runs it, on real flow runs: a run is
forked from the worker's forkserver with its job's environment; a killed run is reported Crashed; a
cancelled one stops; the worker's death takes its runs with it; with warm starts off, Prefect's own
start."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.settings import get_current_settings
from prefect.states import Cancelling

from core.settings import PROJECT_ROOT
from deployments.worker import WORKING_DIRECTORY_STEP
from tests.integration.warm_flow import MARK

JOB_ENV = {MARK: "from the job variables", "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "45"}


@dataclass
class Worker:
    pool: str
    process: subprocess.Popen[bytes]
    log: Path


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def create_pool_and_deployments(pool: str) -> None:
    """A process pool with a deployment of each flow of warm_flow.py, as `prefect deploy` of
    prefect.yaml makes them (the checkout as working directory), with ``JOB_ENV`` as job variables."""
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        for function in ("where_it_runs", "sleeps"):
            flow_id = await client.create_flow_from_name(function.replace("_", "-"))
            await client.create_deployment(
                flow_id=flow_id,
                name=pool,
                entrypoint=f"tests/integration/warm_flow.py:{function}",
                work_pool_name=pool,
                pull_steps=[{WORKING_DIRECTORY_STEP: {"directory": str(PROJECT_ROOT)}}],
                job_variables={"env": JOB_ENV},
            )


def start_worker(log: Path, **env: str) -> Worker:
    """A worker of a new pool, as `make worker` starts it with ``--limit 1`` (its own heartbeat setting
    is 30 s)."""
    pool = f"warm-{uuid.uuid4().hex[:8]}"
    run(create_pool_and_deployments(pool))
    environment = os.environ | {
        "PREFECT_API_URL": str(get_current_settings().api.url),
        "PREFECT_WORKER_QUERY_SECONDS": "0.5",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PYTHONPATH": str(PROJECT_ROOT),
        **env,
    }
    command = [sys.executable, "-m", "deployments.worker", "--pool", pool, "--limit", "1"]
    command += ["--preload", "tests.integration.warm_flow"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=environment, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    return Worker(pool, process, log)


def stop_worker(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(40)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture(scope="module")
def worker(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    started = start_worker(tmp_path_factory.mktemp("worker") / "worker.log")
    yield started
    stop_worker(started)


def start(worker: Worker, flow: str, **parameters: Any) -> FlowRun:
    return run_deployment(f"{flow}/{worker.pool}", parameters=parameters, timeout=0)  # type: ignore[return-value]


def wait_for_state(flow_run: FlowRun, worker: Worker, final: bool = True, timeout: float = 90) -> FlowRun:
    """The run once its state is final (or Running, unless ``final``); fails after ``timeout`` s."""

    async def poll() -> FlowRun:
        async with get_client() as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                current = await client.read_flow_run(flow_run.id)
                if current.state and (current.state.is_final() or (not final and current.state.is_running())):
                    return current
                await asyncio.sleep(0.2)
        raise AssertionError(
            f"run {flow_run.id} not done in {timeout} s; worker log:\n{worker.log.read_text()}"
        )

    return run(poll())


def read_json(path: Path, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} not written in {timeout} s"
        time.sleep(0.1)
    return json.loads(path.read_text())


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True  # ended, not reaped yet
        time.sleep(0.1)
    return False


def test_a_run_is_forked_from_the_workers_forkserver_with_its_jobs_environment(
    worker: Worker, tmp_path: Path
) -> None:
    out = tmp_path / "where.json"
    flow_run = wait_for_state(start(worker, "where-it-runs", out=str(out)), worker)
    assert flow_run.state and flow_run.state.type == StateType.COMPLETED
    where = json.loads(out.read_text())
    forkserver = where["imported_by"]
    # the flow's module was imported before the run began, by a process the worker started
    assert forkserver not in (None, where["pid"], worker.process.pid)
    assert parent_of(forkserver) == worker.process.pid
    assert where["mark"] == JOB_ENV[MARK]
    assert where["heartbeat"] == 45  # the job's, not the worker's 30
    assert Path(where["cwd"]).resolve() == PROJECT_ROOT.resolve()


def test_the_limit_holds_a_run_until_the_one_before_has_ended(worker: Worker, tmp_path: Path) -> None:
    first = start(worker, "sleeps", out=str(tmp_path / "1.json"), seconds=3)
    second = start(worker, "sleeps", out=str(tmp_path / "2.json"), seconds=0)
    first, second = wait_for_state(first, worker), wait_for_state(second, worker)
    assert first.end_time and second.start_time and second.start_time >= first.end_time


def test_a_run_whose_process_is_killed_is_reported_crashed(worker: Worker, tmp_path: Path) -> None:
    out = tmp_path / "pid.json"
    flow_run = start(worker, "sleeps", out=str(out), seconds=120)
    pid = read_json(out)["pid"]
    os.kill(pid, signal.SIGKILL)
    ended = wait_for_state(flow_run, worker, timeout=30)
    assert ended.state and ended.state.type == StateType.CRASHED, ended.state


def test_a_cancelled_run_stops(worker: Worker, tmp_path: Path) -> None:
    out = tmp_path / "pid.json"
    flow_run = start(worker, "sleeps", out=str(out), seconds=120)
    pid = read_json(out)["pid"]
    wait_for_state(flow_run, worker, final=False)

    async def cancel() -> None:
        async with get_client() as client:
            await client.set_flow_run_state(flow_run.id, Cancelling())

    run(cancel())
    ended = wait_for_state(flow_run, worker, timeout=60)
    assert ended.state and ended.state.type == StateType.CANCELLED, ended.state
    assert gone(pid, 10)


def test_the_workers_death_takes_its_runs_with_it(prefect_harness: None, tmp_path: Path) -> None:
    worker = start_worker(tmp_path / "worker.log")
    try:
        out = tmp_path / "pid.json"
        flow_run = start(worker, "sleeps", out=str(out), seconds=120)
        pid = read_json(out)["pid"]
        wait_for_state(flow_run, worker, final=False)
        worker.process.kill()
        assert gone(pid, 15), "the run's process outlived its worker"
        ended = wait_for_state(flow_run, worker, timeout=30)
        assert ended.state and ended.state.type == StateType.CRASHED, ended.state
    finally:
        stop_worker(worker)


def test_a_worker_told_to_stop_ends_its_runs_and_exits(prefect_harness: None, tmp_path: Path) -> None:
    worker = start_worker(tmp_path / "worker.log")
    try:
        out = tmp_path / "pid.json"
        flow_run = start(worker, "sleeps", out=str(out), seconds=120)
        pid = read_json(out)["pid"]
        wait_for_state(flow_run, worker, final=False)
        worker.process.send_signal(signal.SIGTERM)  # what a supervisor (make cluster, systemd) sends
        assert worker.process.wait(40) == 0
        assert gone(pid, 5)
        ended = wait_for_state(flow_run, worker, timeout=30)
        assert ended.state and ended.state.is_final() and ended.state.type != StateType.COMPLETED, ended.state
    finally:
        stop_worker(worker)


def test_with_warm_starts_off_a_run_starts_as_prefect_starts_it(
    prefect_harness: None, tmp_path: Path
) -> None:
    worker = start_worker(tmp_path / "worker.log", SWITCHYARD_WORKER__WARM_STARTS="false")
    try:
        out = tmp_path / "where.json"
        flow_run = wait_for_state(start(worker, "where-it-runs", out=str(out)), worker)
        assert flow_run.state and flow_run.state.type == StateType.COMPLETED
        where = json.loads(out.read_text())
        assert where["imported_by"] in (None, where["pid"])  # a new interpreter imported it, if anyone
        assert where["mark"] == JOB_ENV[MARK] and where["heartbeat"] == 45
    finally:
        stop_worker(worker)
