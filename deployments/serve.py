"""Embedded mode: serve every deployment of prefect.yaml, with its schedule, in this one process.

Needs a Prefect server (``PREFECT_API_URL``): schedules only fire there. ``make demo`` starts one.
Bounded: at most ``SWITCHYARD_SERVE__LIMIT`` flow-run processes at once, one run of each sweep at a
time (prefect.yaml's concurrency limits), and after downtime each sweep runs once (late runs skipped).
An every-minute sweep with nothing to do is skipped before its process starts (deployments/quiet_sweeps.py).
A flow run whose process dies is marked Crashed by the heartbeat automation this process installs, and
at the next start of serve at the latest. Run one serve per Prefect server.
"""

from __future__ import annotations

import asyncio
import logging
import os

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from core.settings import PROJECT_ROOT, get_settings
from deployments.crashed_runs import crash_orphaned_runs, ensure_crash_automation
from deployments.late_runs import skip_late_runs
from deployments.quiet_sweeps import start_watching
from deployments.readiness import wait_for_prefect_api
from deployments.specs import build_deployment, load_specs

logger = logging.getLogger(__name__)


async def prepare_server(served: list[str], sweeps: list[str]) -> None:
    """Before serving: crash the runs the last serve left unfinished, skip the sweeps' late runs, and
    install the crash automation. If the server refuses, the rest is skipped with a warning: serving
    matters more."""
    settings = get_settings().serve
    try:
        if crashed := await crash_orphaned_runs(served):
            logger.warning("marked %d runs Crashed: the previous serve stopped before they finished", crashed)
        for name, count in (await skip_late_runs(sweeps)).items():
            if count:
                logger.warning("skipped %d late runs of %s (a sweep runs once after downtime)", count, name)
        await ensure_crash_automation(
            settings.heartbeat_seconds, settings.missed_heartbeats, settings.pending_seconds
        )
    except Exception as exc:  # the Prefect server refused: serve anyway, the limits still hold
        logger.warning("could not prepare the Prefect server (%s); serving anyway", exc)


def sweep_names(deployments: list[RunnerDeployment]) -> list[str]:
    """``flow/deployment`` of every scheduled deployment."""
    return [d.full_name for d in deployments if d.schedules]


def main() -> None:
    os.chdir(PROJECT_ROOT)
    wait_for_prefect_api()
    settings = get_settings().serve
    deployments = [build_deployment(spec) for spec in load_specs()]
    asyncio.run(prepare_server([d.full_name for d in deployments], sweep_names(deployments)))
    if settings.skip_idle_sweeps:
        start_watching()
    serve(*deployments, limit=settings.limit, heartbeat_seconds=settings.heartbeat_seconds)


if __name__ == "__main__":
    main()
