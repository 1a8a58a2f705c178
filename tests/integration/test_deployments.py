"""prefect.yaml and deployments/serve.py declare the same deployments, and every entrypoint imports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint

import deployments.serve
from core.settings import PROJECT_ROOT
from deployments.specs import PREFECT_YAML, build_deployment, load_pool_names, load_specs

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
    assert deployment.entrypoint == spec.entrypoint
    assert deployment.tags == spec.tags
    assert deployment.parameters == spec.parameters
    assert deployment.description == spec.description
    intervals = [schedule.schedule.interval for schedule in deployment.schedules]
    assert intervals == [timedelta(seconds=config["interval"]) for config in spec.schedules]


def test_serve_serves_exactly_the_deployments_of_prefect_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr(deployments.serve, "wait_for_prefect_api", lambda: "http://test/api")
    monkeypatch.setattr(deployments.serve, "serve", lambda *items: served.extend(items))
    deployments.serve.main()
    assert [(d.name, d.entrypoint) for d in served] == [(s.name, s.entrypoint) for s in SPECS]


def test_process_pending_runs_every_minute() -> None:
    (spec,) = [spec for spec in SPECS if spec.name == "process-pending"]
    assert spec.schedules == [{"interval": 60}]
    # no pull steps: `prefect deploy` records the project folder as the working directory
    assert "pull" not in yaml.safe_load(PREFECT_YAML.read_text())
