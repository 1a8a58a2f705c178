"""Embedded mode: serve every deployment of prefect.yaml, with its schedule, in this one process.

Needs a Prefect server (``PREFECT_API_URL``): schedules only fire there. ``make demo`` starts one.
Bounded: at most ``SWITCHYARD_SERVE__LIMIT`` flow-run processes at once, one run of each sweep at a
time (prefect.yaml's concurrency limits), and after downtime each sweep runs once (late runs skipped).
Quick: it asks for runs to start every ``SWITCHYARD_SERVE__POLL_SECONDS`` (0.5 s), and each run's
process is forked from one that has Prefect and the flows imported (deployments/warm_starts.py; off
with ``SWITCHYARD_SERVE__WARM_STARTS=false``).
An every-minute sweep with nothing to do is skipped before its process starts (deployments/quiet_sweeps.py).
A flow run whose process dies is marked Crashed by the heartbeat automation this process installs, and
at the next start of serve at the latest. Run one serve per Prefect server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from types import FrameType
from typing import Any

from prefect import Flow, get_client
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner

from core.settings import PROJECT_ROOT, get_settings
from deployments.announced_runs import start_announced_runs
from deployments.crashed_runs import crash_orphaned_runs, ensure_crash_automation
from deployments.late_runs import skip_late_runs
from deployments.prefect_tls import share_tls_contexts
from deployments.quiet_sweeps import start_watching
from deployments.readiness import wait_for_prefect_api
from deployments.specs import DeploymentSpec, deployment_options, load_flow, load_specs
from deployments.warm_starts import start_runs_warm, stop_runs

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


async def schedule_sweeps(sweeps: list[str]) -> None:
    """Have the server create the sweeps' next runs now, as its scheduler would on its next pass.

    The demo's scheduler passes every 5 minutes (idle CPU), and its recent-deployments pass did not
    schedule the deployments serve had just registered: a fresh demo had no sweep run for ~7 minutes
    (bench/RESULTS.md, issue 11 fifth session), so stored work that no started run took waited that long.
    Only future runs are made (from now on), so this never brings back a backlog.
    """
    async with get_client() as client:
        for name in sweeps:
            try:
                deployment = await client.read_deployment_by_name(name)
                response = await client.request(
                    "POST", "/deployments/{id}/schedule", path_params={"id": deployment.id}, json={}
                )
                response.raise_for_status()
            except Exception as exc:  # the scheduler's own pass makes them later
                logger.warning("could not schedule %s now (%s); the Prefect scheduler will", name, exc)


class StoppingRunner(Runner):
    """Prefect's Runner that, told to stop (SIGTERM, or SIGINT through `on_interrupt`), stops its
    flow-run processes first: it waits for them to exit before it does. With ``announced`` it also
    polls as soon as the server announces a run (deployments/announced_runs.py)."""

    def __init__(self, *, announced: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.announced = announced

    async def start(self, run_once: bool = False, webserver: bool | None = None) -> None:
        if not self.announced or run_once:
            return await super().start(run_once, webserver)
        listener = asyncio.create_task(start_announced_runs(self))
        try:
            await super().start(run_once, webserver)
        finally:
            listener.cancel()

    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        stop_runs()
        super().handle_sigterm(*args, **kwargs)


def on_interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C: stop the flow runs, then stop serving as Python's own handler would."""
    stop_runs()
    signal.default_int_handler(signum, frame)


def serve(
    deployments: list[tuple[DeploymentSpec, Flow[..., Any]]], *, announced: bool = False, **options: Any
) -> None:
    """Prefect's ``serve()`` of ``deployments`` with the flows kept in memory (each run is started
    from its flow object, not from its file), Runner ``options`` (limit, heartbeat, poll); with
    ``announced``, runs start when the server announces them."""
    signal.signal(signal.SIGINT, on_interrupt)
    runner = StoppingRunner(announced=announced, pause_on_shutdown=True, **options)
    for spec, flow in deployments:
        runner.add_flow(flow, name=spec.name, **deployment_options(spec))
    asyncio.run(schedule_sweeps([spec.full_name for spec, _ in deployments if spec.is_sweep]))
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        logger.info("received %s, stopped", type(exc).__name__)


def main() -> None:
    os.chdir(PROJECT_ROOT)
    share_tls_contexts()
    wait_for_prefect_api()
    settings = get_settings().serve
    specs = load_specs()
    flows = [load_flow(spec) for spec in specs]
    asyncio.run(prepare_server([s.full_name for s in specs], [s.full_name for s in specs if s.is_sweep]))
    if settings.skip_idle_sweeps:
        start_watching()
    if settings.warm_starts:
        start_runs_warm(flow.fn.__module__ for flow in flows)
    serve(
        list(zip(specs, flows, strict=True)),
        limit=settings.limit,
        heartbeat_seconds=settings.heartbeat_seconds,
        query_seconds=settings.poll_seconds,
        announced=settings.start_announced,
    )


if __name__ == "__main__":
    main()
