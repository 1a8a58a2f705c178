"""prefect.yaml and deployments/serve.py declare the same deployments, and every entrypoint imports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.flows import Flow, load_flow_from_entrypoint

import deployments.serve
from core.settings import PROJECT_ROOT
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
    intervals = [schedule.schedule.interval for schedule in deployment.schedules]
    assert intervals == [timedelta(seconds=config["interval"]) for config in spec.schedules]
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


def serve_main(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], dict[str, Any], list[tuple[Any, ...]]]:
    """Run deployments.serve.main without a server: what it served, with which options, what it prepared."""
    served: list[Any] = []
    options: dict[str, Any] = {}
    prepared: list[tuple[Any, ...]] = []

    async def prepare(*names: list[str]) -> None:
        prepared.append(names)

    def fake_serve(*items: Any, **kwargs: Any) -> None:
        served.extend(items)
        options.update(kwargs)

    monkeypatch.setattr(deployments.serve, "wait_for_prefect_api", lambda: "http://test/api")
    monkeypatch.setattr(deployments.serve, "prepare_server", prepare)
    monkeypatch.setattr(deployments.serve, "serve", fake_serve)
    deployments.serve.main()
    return served, options, prepared


def test_serve_serves_exactly_the_deployments_of_prefect_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    served, _, prepared = serve_main(monkeypatch)
    assert [(d.name, d.entrypoint) for d in served] == [(s.name, s.entrypoint) for s in SPECS]
    assert prepared == [
        ([spec.full_name for spec in SPECS], [spec.full_name for spec in SPECS if spec.is_sweep])
    ]


def test_serve_runs_at_most_the_process_limit_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _, options, _ = serve_main(monkeypatch)
    assert options == {"limit": 8, "heartbeat_seconds": 30}
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
