"""serve's warm starts: a flow run's process is forked from a server that imported the flow's module
already (deployments/warm_starts.py), and the run completes as a spawned one does."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import flow_engine
from prefect.flow_engine import run_flow_in_subprocess

from deployments.warm_starts import start_runs_warm, started_warm
from tests.integration.warm_flow import where_it_runs


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
