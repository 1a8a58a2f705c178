"""Which deployments the process worker of deployments/worker.py starts warm, and what it imports first."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import PROJECT_ROOT
from deployments.specs import load_specs
from deployments.worker import WORKING_DIRECTORY_STEP, checkout_flow, parse_args, warm_modules


def here(directory: str = str(PROJECT_ROOT)) -> list[dict[str, Any]]:
    return [{WORKING_DIRECTORY_STEP: {"directory": directory}}]


def test_a_deployment_of_this_checkout_is_started_warm_by_its_module_name() -> None:
    assert checkout_flow("flows/briefs.py:collect_brief", here()) == "flows.briefs:collect_brief"
    assert (
        checkout_flow("flows/briefs.py:collect_brief", here(f"{PROJECT_ROOT}/./"))
        == "flows.briefs:collect_brief"
    )


@pytest.mark.parametrize(
    ("entrypoint", "pull_steps"),
    [
        ("flows/briefs.py:collect_brief", None),  # no pull steps: code from storage
        ("flows/briefs.py:collect_brief", here("/opt/prefect/switchyard")),  # another checkout
        ("flows/briefs.py:collect_brief", [{"prefect.deployments.steps.git_clone": {"repository": "x"}}]),
        ("flows/briefs.py:collect_brief", [*here(), {"prefect.deployments.steps.run_shell_script": {}}]),
        (f"{PROJECT_ROOT}/flows/briefs.py:collect_brief", here()),  # absolute: not a module of the checkout
        ("flows.briefs:collect_brief", here()),  # a module path, not a file
        ("../elsewhere/flows.py:run", here()),
        (None, here()),
    ],
)
def test_other_deployments_start_cold(
    entrypoint: str | None, pull_steps: list[dict[str, Any]] | None
) -> None:
    assert checkout_flow(entrypoint, pull_steps) is None


def test_a_worker_imports_the_flows_of_its_pool_and_what_it_is_told() -> None:
    collect = {
        spec.entrypoint.split(".py")[0].replace("/", ".")
        for spec in load_specs()
        if spec.work_pool == "collect"
    }
    assert collect and set(warm_modules("collect", [])) == collect
    assert warm_modules("no-such-pool", ["tests.integration.warm_flow"]) == ["tests.integration.warm_flow"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--pool", "collect", "--limit", "0"])
