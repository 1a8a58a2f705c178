"""prefect.yaml read as data, and the embedded-mode deployments built from it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import Flow
from prefect.schedules import Cron, Interval, Schedule
from prefect.utilities.importtools import import_object

from core.names import DAILY_REPORT
from core.settings import PROJECT_ROOT, get_settings

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
# The rule for every scheduled deployment (a sweep): one run at a time; a run due while one is still
# running is cancelled, not queued, so a slow or busy machine never piles sweeps up.
SWEEP_LIMIT: dict[str, Any] = {"limit": 1, "collision_strategy": "CANCEL_NEW"}


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of prefect.yaml's ``deployments``."""

    name: str
    entrypoint: str
    work_pool: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    concurrency_limit: dict[str, Any] | None = None

    @property
    def full_name(self) -> str:
        """``flow/deployment``: each flow is named after its function (``process_pending`` is
        ``process-pending``), its deployment as prefect.yaml says."""
        function = self.entrypoint.rsplit(":", 1)[1]
        return f"{function.replace('_', '-')}/{self.name}"

    @property
    def is_sweep(self) -> bool:
        """A scheduled deployment: it runs on its own, every interval."""
        return bool(self.schedules)


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def report_schedule() -> dict[str, Any]:
    """The daily report's schedule from the settings: every day at ``report.time`` in ``report.timezone``."""
    settings = get_settings().report
    return {"cron": settings.cron, "timezone": settings.timezone}


def _with_settings(spec: DeploymentSpec) -> DeploymentSpec:
    """The daily report follows the settings' time and time zone (prefect.yaml holds their defaults)."""
    if spec.full_name == DAILY_REPORT:
        return replace(spec, schedules=[report_schedule()])
    return spec


def load_specs(path: Path = PREFECT_YAML, *, from_settings: bool = True) -> list[DeploymentSpec]:
    """Every deployment declared in prefect.yaml; the daily report's schedule from the settings
    unless ``from_settings`` is off (prefect.yaml as written)."""
    specs = [
        DeploymentSpec(
            name=entry["name"],
            entrypoint=entry["entrypoint"],
            work_pool=entry["work_pool"]["name"],
            description=entry.get("description", ""),
            tags=list(entry.get("tags") or []),
            parameters=dict(entry.get("parameters") or {}),
            schedules=list(entry.get("schedules") or []),
            concurrency_limit=entry.get("concurrency_limit"),
        )
        for entry in _load(path)["deployments"]
    ]
    return [_with_settings(spec) for spec in specs] if from_settings else specs


def load_pool_names(path: Path = PREFECT_YAML) -> list[str]:
    """The work pools prefect.yaml defines."""
    return [pool["name"] for pool in _load(path)["definitions"]["work_pools"].values()]


def to_schedule(config: dict[str, Any]) -> Schedule:
    """A Prefect schedule from a prefect.yaml schedule entry (interval seconds or cron)."""
    timezone = config.get("timezone")
    if "interval" in config:
        return Interval(config["interval"], timezone=timezone)
    if "cron" in config:
        return Cron(config["cron"], timezone=timezone)
    raise ValueError(f"unsupported schedule in prefect.yaml: {config}")


def concurrency_limit(spec: DeploymentSpec) -> ConcurrencyLimitConfig | None:
    """`SWEEP_LIMIT` for a sweep, no limit otherwise (prefect.yaml must say the same: a test checks)."""
    if not spec.is_sweep:
        return None
    return ConcurrencyLimitConfig(
        limit=SWEEP_LIMIT["limit"],
        collision_strategy=ConcurrencyLimitStrategy(SWEEP_LIMIT["collision_strategy"]),
    )


def import_path(entrypoint: str) -> str:
    """A file entrypoint as the module and name it imports: ``flows/briefs.py:collect`` is
    ``flows.briefs:collect``, so that a process that imported the module already (a forkserver) has it."""
    path, function = entrypoint.rsplit(":", 1)
    return f"{path.removesuffix('.py').replace('/', '.')}:{function}"


def load_flow(spec: DeploymentSpec) -> Flow[..., Any]:
    """The flow of ``spec``, imported by its module name (`import_path`)."""
    return import_object(import_path(spec.entrypoint))


def deployment_options(spec: DeploymentSpec) -> dict[str, Any]:
    """What a deployment of ``spec`` is made with besides its flow and name: schedules, limit,
    parameters, tags, description."""
    return {
        "schedules": [to_schedule(config) for config in spec.schedules],
        "concurrency_limit": concurrency_limit(spec),
        "parameters": spec.parameters,
        "tags": spec.tags,
        "description": spec.description,
    }


def build_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    """The embedded-mode deployment for ``spec``: same name, flow, schedules, limit, parameters and tags."""
    return load_flow(spec).to_deployment(name=spec.name, **deployment_options(spec))
