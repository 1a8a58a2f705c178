"""A process worker whose flow runs start warm: forked from a process that imported Prefect and the flows.

Prefect's process worker starts every flow run as a new interpreter (a supervisor that runs the
deployment's pull steps, then ``python -m prefect.engine``): ~3 s of imports here before the run is
Running. `WarmProcessWorker` is that worker (type ``process``: the same pools, the same ``prefect
deploy``), except that a run whose deployment's code is this checkout is forked from the forkserver of
deployments/warm_starts.py, which imported Prefect's flow engine and the pool's flows once.

What a process worker guarantees holds for a warm run: the job variables' ``env`` is the run's
environment (and Prefect settings), ``--limit`` counts it, a cancellation sends the intent over
Prefect's control channel then SIGTERM (SIGKILL after 30 s) to the run's process group, a run whose
process dies is reported Crashed, heartbeats are sent as its settings say, and the worker's stop or
death ends its runs (warm_starts.py). Prefect's own start is kept (cold) when
``SWITCHYARD_WORKER__WARM_STARTS=false``, when the job variables set a ``command``, or when the
deployment's code is elsewhere (pull steps other than the working directory of this checkout, which
is what ``prefect deploy`` of prefect.yaml records). A warm run runs the code the worker started
with: restart the workers after changing the flows (the upgrade order of docs/operations.md does).
It uses internals of Prefect 3.8.8 (``prefect.runner._flow_run_executor``, ``_process_manager``,
``_control_channel``); tests/integration/test_warm_worker.py fails when they change.

    python -m deployments.worker --pool collect [--name NAME] [--limit N] [--work-queue Q]
                                 [--preload MODULE] [--with-healthcheck]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import warnings
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.context import serialize_context
from prefect.flow_engine import run_flow_in_subprocess
from prefect.flows import Flow
from prefect.runner._control_channel import ControlChannel
from prefect.runner._flow_run_executor import FlowRunExecutionResult, FlowRunExecutorContext
from prefect.runner._process_manager import ProcessHandle
from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS, PREFECT_WORKER_PREFETCH_SECONDS
from prefect.utilities.importtools import import_object
from prefect.utilities.processutils import command_to_string, get_sys_executable
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from core.settings import PROJECT_ROOT, get_settings
from deployments.specs import import_path, load_specs
from deployments.warm_starts import RunGroup, start_runs_warm, started_warm

WORKING_DIRECTORY_STEP = "prefect.deployments.steps.set_working_directory"
STOP_SECONDS = 30.0  # a run asked to stop (the worker stopping) is killed after this


def checkout_flow(entrypoint: str | None, pull_steps: list[dict[str, Any]] | None) -> str | None:
    """``module:function`` of a deployment's flow when its code is this checkout (its one pull step sets
    the working directory to it, and its entrypoint is a file in it), else None."""
    if not entrypoint or not pull_steps or len(pull_steps) != 1 or len(pull_steps[0]) != 1:
        return None
    [(step, options)] = pull_steps[0].items()
    if step != WORKING_DIRECTORY_STEP or not isinstance(options, dict):
        return None
    directory = options.get("directory")
    if not isinstance(directory, str) or Path(directory).resolve() != PROJECT_ROOT.resolve():
        return None
    path = entrypoint.rpartition(":")[0]
    if Path(path).is_absolute() or not path.endswith(".py"):
        return None
    target = import_path(entrypoint)
    module, function = target.split(":")
    if not function.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        return None
    return target


class WarmStarter:
    """Prefect's process starter for a warm run: ``flow`` forked from the forkserver with ``env`` (the
    job's environment) and the control channel's address for cancellation."""

    def __init__(
        self, flow: Flow[..., Any], env: dict[str, str | None], control_channel: ControlChannel
    ) -> None:
        self.flow, self.env, self.control_channel = flow, env, control_channel

    async def start(
        self, flow_run: FlowRun, task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        env = dict(self.env)
        registered = False
        try:
            port, token = self.control_channel.register(flow_run.id)
            env |= {"PREFECT__CONTROL_PORT": str(port), "PREFECT__CONTROL_TOKEN": token}
            registered = True
        except RuntimeError:  # no loopback listener: a cancellation is a kill alone, as with Prefect's
            pass
        try:
            # the run's Prefect settings come from its environment (the job's), as a cold run's do, not
            # from the worker's settings that Prefect would hand over by default
            context = serialize_context() | {"settings_context": {}}
            process = run_flow_in_subprocess(self.flow, flow_run=flow_run, env=env, context=context)
        except BaseException:
            if registered:
                self.control_channel.unregister(flow_run.id)
            raise
        handle = ProcessHandle(process, termination_scope=RunGroup())
        task_status.started(handle)
        try:
            await anyio.wait_readable(process.sentinel)  # readable once the process has ended
        except anyio.get_cancelled_exc_class():
            # the worker is stopping: end the run, as Prefect's process worker ends its cold runs
            with anyio.CancelScope(shield=True):
                await stop(handle)
            raise
        process.join()


async def stop(handle: ProcessHandle) -> None:
    """SIGTERM to a run's process group; SIGKILL after `STOP_SECONDS`."""
    process = handle.raw_process
    with contextlib.suppress(ProcessLookupError):
        handle.graceful_kill()
    with anyio.move_on_after(STOP_SECONDS):
        await anyio.wait_readable(process.sentinel)
        return
    with contextlib.suppress(ProcessLookupError):
        handle.hard_kill()


with warnings.catch_warnings():  # it takes over the dispatch key "process" from ProcessWorker, on purpose
    warnings.simplefilter("ignore")

    class WarmProcessWorker(ProcessWorker):
        """Prefect's process worker, starting the runs of this checkout's deployments warm."""

        type = "process"

        async def run(
            self,
            flow_run: FlowRun,
            configuration: ProcessJobConfiguration,
            task_status: anyio.abc.TaskStatus[int] | None = None,
        ) -> ProcessWorkerResult:
            flow = await self.warm_flow(flow_run, configuration)
            if flow is None:
                return await super().run(flow_run, configuration, task_status)
            self.get_flow_run_logger(flow_run).info("Starting the run warm (forked from the worker's server)")
            return await run_warm(flow, flow_run, configuration, task_status or anyio.TASK_STATUS_IGNORED)

        async def warm_flow(
            self, flow_run: FlowRun, configuration: ProcessJobConfiguration
        ) -> Flow[..., Any] | None:
            """The flow to fork ``flow_run`` from, or None for Prefect's own start (warm starts off, a
            command of the job's own, the deployment's code not this checkout)."""
            engine = command_to_string([get_sys_executable(), "-m", "prefect.engine"])
            if not started_warm() or flow_run.deployment_id is None or configuration.command != engine:
                return None
            deployment = await self.client.read_deployment(flow_run.deployment_id)
            target = checkout_flow(deployment.entrypoint, deployment.pull_steps)
            if target is None:
                return None
            try:
                flow = await anyio.to_thread.run_sync(import_object, target)
            except Exception as exc:  # Prefect's own start reports it on the run
                self._logger.warning("could not import %s (%s): starting the run cold", target, exc)
                return None
            return flow if isinstance(flow, Flow) else None


async def run_warm(
    flow: Flow[..., Any],
    flow_run: FlowRun,
    configuration: ProcessJobConfiguration,
    task_status: anyio.abc.TaskStatus[int],
) -> ProcessWorkerResult:
    """What ProcessWorker.run does for a cold run (Prefect's executor: states, cancellation, crash
    reports), with `WarmStarter` as the starter."""

    async def resolve_flow(_: FlowRun) -> Flow[..., Any]:
        return flow

    execution: FlowRunExecutionResult | None = None
    async with FlowRunExecutorContext() as context:
        starter = WarmStarter(flow, configuration.env, context.control_channel)
        executor = context.create_executor(
            flow_run, starter, resolve_flow=resolve_flow, propose_submitting=False
        )

        async def execute(
            *, task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED
        ) -> None:
            nonlocal execution
            execution = await executor.submit(task_status=task_status)

        async with anyio.create_task_group() as group:
            handle = await group.start(execute)
            task_status.started(handle.pid)
    if execution is None or execution.status_code is None:
        raise RuntimeError("Failed to start flow run process.")
    return ProcessWorkerResult(status_code=execution.status_code, identifier=str(execution.handle.pid))


def warm_modules(pool: str, preload: list[str]) -> list[str]:
    """The modules a worker of ``pool`` imports before its first run: its deployments' flows in
    prefect.yaml, and ``preload``."""
    specs = [spec for spec in load_specs() if spec.work_pool == pool]
    return sorted({*(import_path(spec.entrypoint).partition(":")[0] for spec in specs), *preload})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", required=True, help="the work pool to take runs from")
    parser.add_argument("--name", help="the worker's name (default: Prefect's)")
    parser.add_argument("--limit", type=int, help="flow runs at once (always give one with several workers)")
    parser.add_argument("--work-queue", action="append", help="only these queues of the pool")
    parser.add_argument("--preload", action="append", default=[], help="a module imported before any run")
    parser.add_argument("--with-healthcheck", action="store_true", help="serve GET /health (Prefect's)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.chdir(PROJECT_ROOT)  # the forkserver's, so every warm run's, working directory
    if get_settings().worker.warm_starts:
        modules = warm_modules(args.pool, args.preload)
        for module in modules:  # the worker needs the flows too: it hands each run its flow
            importlib.import_module(module)
        start_runs_warm(modules, now=True)
    worker = WarmProcessWorker(
        work_pool_name=args.pool,
        work_queues=args.work_queue,
        name=args.name,
        limit=args.limit,
        prefetch_seconds=PREFECT_WORKER_PREFETCH_SECONDS.value(),
        heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()),
    )
    asyncio.run(work(worker, args.with_healthcheck))


async def work(worker: WarmProcessWorker, with_healthcheck: bool) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then stop it: its runs get SIGTERM (SIGKILL after 30 s)
    and it exits when they have ended. (``prefect worker start`` 3.8.8 ignores a single SIGTERM.)"""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await worker.start(with_healthcheck=with_healthcheck)
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} stopped", flush=True)


if __name__ == "__main__":
    main()
