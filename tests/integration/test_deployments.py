"""prefect.yaml and deployments/serve.py declare the same deployments, and every entrypoint imports."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL, temporary_settings

import deployments.serve
from core.names import (
    COLLECT_BRIEF,
    COUNT_REQUEST,
    COUNT_WORDS,
    DISPATCH_MAILING,
    DISPATCH_MAILINGS,
    PROCESS_PENDING,
    analyse_run_name,
    collect_run_name,
    pending_run_name,
)
from core.settings import PROJECT_ROOT
from deployments import up
from deployments.runs import NOTHING, run_state, start_collection, start_run
from deployments.specs import PREFECT_YAML, SWEEP_LIMIT, build_deployment, load_pool_names, load_specs
from tests.conftest import set_env

SPECS = load_specs()


def test_the_four_work_pools_replace_the_celery_queues() -> None:
    assert load_pool_names() == ["collect", "actions", "mailing", "analysis"]
    assert {spec.work_pool for spec in SPECS} <= set(load_pool_names())


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_entrypoint_imports_a_flow(spec: Any) -> None:
    path = PROJECT_ROOT / spec.entrypoint.split(":")[0]
    assert path.is_file()
    assert isinstance(load_flow_from_entrypoint(str(PROJECT_ROOT / spec.entrypoint)), Flow)


def _described(schedule: Any) -> dict[str, Any]:
    """A built schedule in prefect.yaml's terms: its interval, or its cron line and time zone."""
    if hasattr(schedule, "interval"):
        return {"interval": schedule.interval}
    return {"cron": schedule.cron, "timezone": schedule.timezone}


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_embedded_deployment_matches_prefect_yaml(spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    deployment = build_deployment(spec)
    assert deployment.name == spec.name
    assert deployment.full_name == spec.full_name
    assert deployment.entrypoint == spec.entrypoint
    assert deployment.tags == spec.tags
    assert deployment.parameters == spec.parameters
    assert deployment.description == spec.description
    assert [_described(schedule.schedule) for schedule in deployment.schedules] == [
        {"interval": timedelta(seconds=config["interval"])} if "interval" in config else config
        for config in spec.schedules
    ]
    if spec.schedules:
        assert spec.concurrency_limit == SWEEP_LIMIT
        assert deployment.concurrency_limit == 1
        assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    else:
        assert spec.concurrency_limit is None
        assert deployment.concurrency_limit is None


def test_the_sweeps_are_the_scheduled_deployments_under_one_rule() -> None:
    sweeps = [spec.name for spec in SPECS if spec.is_sweep]
    assert {"process-pending", "dispatch-mailings", "process-briefs"} <= set(sweeps)
    assert SWEEP_LIMIT == {"limit": 1, "collision_strategy": "CANCEL_NEW"}


def test_runs_a_person_starts_have_deployments_a_running_sweep_cannot_cancel() -> None:
    """A sweep's CANCEL_NEW limit holds for its own deployment only: the dashboard's, the CLI's and the
    demo's runs for one request, mailing or brief go to deployments without a limit."""
    by_name = {spec.full_name: spec for spec in SPECS}
    for started in (COUNT_REQUEST, DISPATCH_MAILING, COLLECT_BRIEF, COUNT_WORDS):
        assert not by_name[started].is_sweep and by_name[started].concurrency_limit is None
    assert by_name[COUNT_REQUEST].entrypoint == by_name[PROCESS_PENDING].entrypoint
    assert by_name[DISPATCH_MAILING].entrypoint == by_name[DISPATCH_MAILINGS].entrypoint


def serve_main(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], dict[str, Any], list[tuple[Any, ...]]]:
    """Run deployments.serve.main without a server: what it served, with which options, what it prepared."""
    served: list[Any] = []
    options: dict[str, Any] = {}
    prepared: list[tuple[Any, ...]] = []

    async def prepare(*names: list[str]) -> None:
        prepared.append(names)

    def fake_serve(items: list[Any], **kwargs: Any) -> None:
        served.extend(items)
        options.update(kwargs)

    monkeypatch.setattr(deployments.serve, "wait_for_prefect_api", lambda: "http://test/api")
    monkeypatch.setattr(deployments.serve, "prepare_server", prepare)
    monkeypatch.setattr(deployments.serve, "serve", fake_serve)
    monkeypatch.setattr(deployments.serve, "start_runs_warm", lambda modules: warmed.extend(modules))
    warmed: list[str] = []
    deployments.serve.main()
    options["warmed"] = warmed
    return served, options, prepared


def test_serve_serves_exactly_the_deployments_of_prefect_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    served, options, prepared = serve_main(monkeypatch)
    assert [spec for spec, _ in served] == SPECS
    for spec, flow in served:
        assert flow.to_deployment(name=spec.name).entrypoint == spec.entrypoint
    assert prepared == [
        ([spec.full_name for spec in SPECS], [spec.full_name for spec in SPECS if spec.is_sweep])
    ]
    # every run starts warm: forked from a process that imported the flows' modules
    assert sorted(set(options["warmed"])) == sorted(
        {spec.entrypoint.split(".py")[0].replace("/", ".") for spec in SPECS}
    )


def test_serve_runs_at_most_the_process_limit_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _, options, _ = serve_main(monkeypatch)
    assert options.pop("warmed")
    assert options == {"limit": 8, "heartbeat_seconds": 30, "query_seconds": 5.0, "announced": True}
    monkeypatch.setenv("SWITCHYARD_SERVE__LIMIT", "3")
    set_env({})
    try:
        _, options, _ = serve_main(monkeypatch)
    finally:
        monkeypatch.delenv("SWITCHYARD_SERVE__LIMIT")
        set_env({})
    assert options["limit"] == 3


def test_process_pending_runs_every_minute() -> None:
    (spec,) = [spec for spec in SPECS if spec.name == "process-pending"]
    assert spec.schedules == [{"interval": 60}]
    # no pull steps: `prefect deploy` records the project folder as the working directory
    assert "pull" not in yaml.safe_load(PREFECT_YAML.read_text())


def applied_sweep(name: str) -> Any:
    """A sweep-like deployment of process-pending, every minute, on the harness server, under ``name``."""
    (spec,) = [spec for spec in SPECS if spec.name == "process-pending"]
    deployment = build_deployment(replace(spec, name=name))
    deployment.apply()
    return deployment


@pytest.mark.usefixtures("prefect_harness")
def test_a_started_run_is_named_at_creation_and_says_nobody_serves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    deployment = applied_sweep(f"pending-{uuid.uuid4().hex[:6]}")
    message = start_run(deployment.full_name, {"request_id": 7}, pending_run_name(7), "Request 7")
    assert message.startswith("Started flow run [count pages of request 7](")
    assert message.endswith(
        f"no serve process or worker is polling {deployment.full_name} now, so it waits until one does."
    )
    flow_run_id = message.split("/runs/flow-run/")[1].split(")")[0]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(flow_run_id)).name == "count pages of request 7"
    assert run_state(flow_run_id) == "Scheduled"
    assert run_state(uuid.uuid4()) == "not found"


@pytest.mark.usefixtures("prefect_harness")
def test_a_started_brief_gets_its_collect_run_and_its_analysis_run_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    brief_id = 900_000 + uuid.uuid4().int % 1000
    names = [collect_run_name(brief_id), analyse_run_name(brief_id)]

    async def runs() -> list[Any]:
        async with get_client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
            )

    async def remove(deployment_ids: list[UUID]) -> None:
        async with get_client() as client:  # later tests analyse briefs in their collecting run
            for run in await runs():
                await client.delete_flow_run(run.id)
            for deployment_id in deployment_ids:
                await client.delete_deployment(deployment_id)

    applied = [
        build_deployment(spec).apply() for spec in SPECS if spec.name in ("collect-brief", "analyse-brief")
    ]
    try:
        message = start_collection(brief_id)
        started = asyncio.run(runs())
    finally:
        asyncio.run(remove(applied))
    assert message.startswith(f"Started flow run [collect brief {brief_id}](")
    assert sorted(run.name for run in started) == sorted(names)
    assert all(run.parameters == {"brief_id": brief_id} for run in started)


@pytest.mark.usefixtures("prefect_harness")
def test_without_the_deployment_a_scheduled_run_is_promised_only_when_its_sweep_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    sweep = applied_sweep(f"pending-{uuid.uuid4().hex[:6]}")

    def start(scheduled_by: str) -> str:
        return start_run("no-such/deployment", {}, "a run", "Request 8", scheduled_by)

    stored = (
        "Request 8 is stored, but no run could be started now "
        "(the Prefect server has no deployment no-such/deployment); "
    )
    assert (
        start(sweep.full_name) == f"{stored}the scheduled {sweep.name} run will pick it up within a minute."
    )
    assert start("no-such/sweep") == f"{stored}there is no scheduled sweep either, {NOTHING}."
    with get_client(sync_client=True) as client:
        client.pause_deployment(client.read_deployment_by_name(sweep.full_name).id)
    assert (
        start(sweep.full_name)
        == f"{stored}the {sweep.name} schedule is paused (no serve process is running), {NOTHING}."
    )


def test_without_a_server_nothing_is_promised_and_no_state_is_known() -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        message = start_run(PROCESS_PENDING, {}, "a run", "Request 9")
        state = run_state(uuid.uuid4())
    assert message.startswith(
        "Request 9 is stored; no Prefect server is configured (PREFECT_API_URL), so no run"
    )
    assert "will pick it up" not in message
    assert state == "unknown (no Prefect server is configured)"


def test_up_stops_everything_when_one_process_exits_and_folds_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = shlex.quote(sys.executable)
    entries = [
        ("sleeper", f"{python} -c 'import time; time.sleep(600)'"),
        ("failer", f"{python} -c 'raise ValueError(\"boom\")'"),
    ]
    assert up.run(entries, tmp_path / "logs", grace=5) == 1
    shown = capsys.readouterr().out
    assert "failer exited (rc=1): stopping the others" in shown
    assert "sleeper stopped" in shown and "killed" not in shown
    assert re.search(r"failer +\|   \.\.\. a traceback of \d+ lines \(in .*failer\.log\)\n", shown)
    assert re.search(r"failer +\| ValueError: boom\n", shown)
    assert 'File "<string>"' not in shown
    assert 'File "<string>", line 1' in (tmp_path / "logs" / "failer.log").read_text()


def test_a_procfile_line_without_a_command_is_refused(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\n\nsandbox: python -m sandbox\nbroken\n")
    with pytest.raises(SystemExit, match="Procfile:4: expected 'name: command'"):
        up.read_procfile(procfile)
    procfile.write_text("sandbox: python -m sandbox\n")
    assert up.read_procfile(procfile) == [("sandbox", "python -m sandbox")]


def test_serve_starts_even_when_the_server_refuses_to_be_prepared(caplog: pytest.LogCaptureFixture) -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        asyncio.run(deployments.serve.prepare_server(["a/b"], ["a/b"]))
    assert "could not prepare the Prefect server" in caplog.text and "serving anyway" in caplog.text


def test_what_a_person_is_told_of_a_sweep_follows_its_schedule() -> None:
    from deployments.runs import _how_soon

    assert _how_soon("process-pending/process-pending") == "within a minute"
    assert _how_soon("run-follows/run-follows") == "within 5 minutes"
    assert _how_soon("sync-accounts/sync-accounts") == "at its next scheduled time"
    assert _how_soon("count-words/count-words") == "when one is started"


def test_the_daily_report_runs_at_the_report_time_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployments.specs import report_schedule

    (written,) = [spec for spec in load_specs(from_settings=False) if spec.name == "daily-report"]
    assert written.schedules == [report_schedule()] == [{"cron": "0 7 * * *", "timezone": "UTC"}]
    assert written.concurrency_limit == SWEEP_LIMIT and written.work_pool == "collect"
    monkeypatch.chdir(PROJECT_ROOT)
    set_env({"SWITCHYARD_REPORT__TIME": "06:30", "SWITCHYARD_REPORT__TIMEZONE": "Europe/Moscow"})
    try:
        (spec,) = [spec for spec in load_specs() if spec.name == "daily-report"]
        built = build_deployment(spec)
    finally:
        monkeypatch.delenv("SWITCHYARD_REPORT__TIME")
        monkeypatch.delenv("SWITCHYARD_REPORT__TIMEZONE")
        set_env({})
    assert [_described(schedule.schedule) for schedule in built.schedules] == [
        {"cron": "30 6 * * *", "timezone": "Europe/Moscow"}
    ]
    assert built.concurrency_limit == 1
