"""serve's warm starts: a flow run's process is forked from a server that imported the flow's module
already (deployments/warm_starts.py), and the run completes as a spawned one does; its process exits
once its flow has returned, and ends after its starter's death even if it ignores SIGTERM."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import flow_engine
from prefect.flow_engine import run_flow_in_subprocess

from core.settings import PROJECT_ROOT
from deployments import warm_starts
from deployments.warm_starts import WarmContext, start_runs_warm, started_warm
from tests.integration.warm_flow import hangs_at_exit, where_it_runs


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(flow_engine, "multiprocessing", multiprocessing)  # restored afterwards
    start_runs_warm(["tests.integration.warm_flow"])
    yield


def run(tmp_path: Path) -> dict[str, int]:
    out = tmp_path / "where.json"
    process = run_flow_in_subprocess(where_it_runs, parameters={"out": str(out)})
    process.join(60)
    assert process.exitcode == 0
    return json.loads(out.read_text())


def test_a_warm_run_is_forked_from_the_process_that_imported_its_flow(
    prefect_harness: None, warm: None, tmp_path: Path
) -> None:
    assert started_warm()
    first, second = run(tmp_path), run(tmp_path)
    assert os.getpid() not in (first["pid"], second["pid"], first["imported_by"])
    assert first["pid"] != second["pid"]
    # the flow's module was there before either run began: the forkserver had imported it, once
    assert first["imported_by"] == second["imported_by"] not in (first["pid"], second["pid"], None)


def test_a_warm_run_leaves_the_objects_it_started_with_to_reference_counting(
    prefect_harness: None, warm: None, tmp_path: Path
) -> None:
    # what the forkserver imported (Prefect and the flows' modules: far more than 100,000 objects) is
    # frozen, so the run's full collections do not visit it again (core/heap.py)
    assert run(tmp_path)["frozen"] > 100_000


def test_without_warm_starts_each_run_imports_its_flow_anew(prefect_harness: None, tmp_path: Path) -> None:
    assert not started_warm()
    where = run(tmp_path)
    assert where["pid"] != os.getpid() and where["imported_by"] is None
    assert where["frozen"] == 0


def ended(pid: int, within: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie nobody reaped) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.2)
    return False


def test_a_run_whose_exit_hangs_exits_once_its_flow_has_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_starts, "EXIT_SECONDS", 1.0)
    process = WarmContext().Process(target=hangs_at_exit)
    process.start()
    try:
        process.join(30)
        assert process.exitcode == 0, "the run's process did not exit"
    finally:
        process.kill()


STARTER = """
import sys, time
from deployments import warm_starts
from tests.integration.warm_flow import ignores_sigterm
warm_starts.GRACE_SECONDS = 1.0
warm_starts.WarmContext().Process(target=ignores_sigterm, args=(sys.argv[1],)).start()
time.sleep(600)
"""


def test_a_run_that_ignores_sigterm_ends_after_its_starters_death(tmp_path: Path) -> None:
    out = tmp_path / "pid.json"
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(out)], cwd=PROJECT_ROOT)
    pid = None
    try:
        deadline = time.monotonic() + 60
        while not out.exists() or not out.read_text():
            assert time.monotonic() < deadline and starter.poll() is None, "the run did not start"
            time.sleep(0.1)
        pid = json.loads(out.read_text())["pid"]
        starter.kill()
        starter.wait()
        assert ended(pid, 20), "the run's process outlived its starter"
    finally:
        starter.kill()
        if pid is not None and not ended(pid, 0.1):
            os.kill(pid, signal.SIGKILL)
