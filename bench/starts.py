"""Benchmark: how soon a started run is Running, with serve (embedded) and with a process worker.

Starts its own Prefect server (``--port``, ``PREFECT_HOME`` under /tmp), then for each mode and
variant: serve (``python -m deployments.serve``) or a process worker (``python -m deployments.worker
--pool collect``, ``make worker``'s; ``prefect worker start --pool collect`` for ``before``) after ``make
pools`` and ``prefect deploy`` of ``collect-brief``; measures its CPU and
the Prefect server's while nothing is asked of them (``--idle`` seconds, the sweeps' ticks
included), then starts ``--runs``
runs of ``collect-brief`` one after another as the dashboard and the CLI do (``run_deployment``
with ``timeout=0``), each at a random moment. Measured per run: from just before the call to the
timestamps of the run's Pending (picked up) and Running states; the next run starts when the last
has ended (or after 120 s; a run not Running by then counts as never, "inf").

Variants: ``after`` is this checkout with its settings; ``before`` is the code in ``--before-dir``
(e.g. ``git archive <commit> | tar -x -C DIR``) with the settings main shipped with since issue 11's
second session (serve's defaults; Prefect's process worker polling every second as ``make worker``
set it); ``cold`` is this checkout with warm starts off (each run's process a new interpreter, as
Prefect starts it).

    python -m bench.starts [--mode serve] [--mode worker] [--variant before] [--variant after]
                           [--before-dir DIR] [--runs 20] [--idle 60] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import free_port, prefect_server_command, record
from bench.idle import descendants, read_procs
from core.settings import PROJECT_ROOT

DEPLOYMENT = "collect-brief/collect-brief"
TIMEOUT = 120  # seconds a run is waited for
BEFORE = {
    "serve": {},  # SWITCHYARD_SERVE__POLL_SECONDS and __WARM_STARTS at main's defaults
    "worker": {"PREFECT_WORKER_QUERY_SECONDS": "1"},  # what main's `make worker` set
}
AFTER = {
    "serve": {},  # SWITCHYARD_SERVE__POLL_SECONDS and __WARM_STARTS at their defaults
    "worker": {"PREFECT_WORKER_QUERY_SECONDS": "1"},  # what `make worker` sets
}
COLD = {
    "serve": {"SWITCHYARD_SERVE__WARM_STARTS": "false"},
    "worker": AFTER["worker"] | {"SWITCHYARD_WORKER__WARM_STARTS": "false"},
}
VARIANTS = {"before": BEFORE, "after": AFTER, "cold": COLD}
HEADER = (
    "| date | mode | variant | settings | runs | trigger → Pending p50 | trigger → Running p50 | p95 | max "
    "| idle CPU (share of a core) | Prefect server idle CPU | load before → after |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_healthy(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.5)


@contextmanager
def process(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen]:
    """A child process for the block, stopped (SIGINT, then kill) afterwards; its output in ``log``."""
    with log.open("ab") as out:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        child.send_signal(2)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Share of one core each process tree in ``pids`` used over ``seconds`` (exited children included)."""

    def cpu() -> dict[str, float]:
        procs = read_procs()
        return {name: sum(p.cpu for p in descendants(procs, pid)) for name, pid in pids.items()}

    start = cpu()
    time.sleep(seconds)
    end = cpu()
    return {name: (end[name] - start[name]) / seconds for name in pids}


def child_env(base: dict[str, str], code: Path, extra: dict[str, str]) -> dict[str, str]:
    return base | {"PYTHONPATH": str(code)} | extra


async def time_starts(runs: int) -> list[tuple[float, float]]:
    """For ``runs`` runs one after another: seconds from each trigger to its run's Pending state (the
    runs's pick-up by serve or the worker) and to its Running state (its process has started)."""
    from prefect import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment

    seconds: list[tuple[float, float]] = []
    async with get_client() as client:
        for number in range(runs):
            await asyncio.sleep(random.uniform(0.2, 1.2))
            started = time.time()
            for attempt in range(1, 4):  # a busy SQLite-backed server may answer 503: the wait counts
                try:
                    flow_run = await run_deployment(DEPLOYMENT, parameters={"brief_id": 0}, timeout=0)
                    break
                except Exception as exc:
                    if attempt == 3:
                        raise
                    print(
                        f"  run {number + 1}: could not start ({exc.__class__.__name__}), again", flush=True
                    )
                    await asyncio.sleep(1)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:  # until it ends, so that runs never overlap
                run = await client.read_flow_run(flow_run.id)
                if run.state and run.state.is_final():
                    break
                await asyncio.sleep(0.05)
            states = await client.read_flow_run_states(flow_run.id)
            times = {s.type: s.timestamp.timestamp() - started for s in reversed(states)}
            if StateType.RUNNING not in times and run.state and run.state.is_final():
                raise SystemExit(f"run {flow_run.id} ended {run.state.name} without running")
            # not Running within TIMEOUT: counted as never (it sorts last)
            seconds.append((times.get(StateType.PENDING, math.inf), times.get(StateType.RUNNING, math.inf)))
            print(
                f"  run {number + 1}: Pending after {seconds[-1][0]:.2f} s, "
                f"Running after {seconds[-1][1]:.2f} s ({run.state.name})",
                flush=True,
            )
    return seconds


async def wait_for_deployment(timeout: float = 120) -> None:
    from prefect import get_client

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            try:
                await client.read_deployment_by_name(DEPLOYMENT)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no deployment {DEPLOYMENT} within {timeout:.0f} s") from None
                await asyncio.sleep(0.5)


def measure(
    mode: str, variant: str, code: Path, env: dict[str, str], runs: int, logs: Path, server: int, idle: float
) -> str:
    """Start serve or a worker from ``code`` with the variant's settings; its CPU and the Prefect
    server's over ``idle`` seconds left alone; then time ``runs`` starts; a row."""
    settings = VARIANTS[variant][mode]
    environment = child_env(env, code, settings)
    python = sys.executable
    log = logs / f"{mode}-{variant}.log"
    if mode == "serve":
        command = [python, "-m", "deployments.serve"]
    else:
        subprocess.run(
            [python, "-m", "deployments.pools"], env=environment, cwd=code, check=True, stdout=log.open("ab")
        )
        prefect = str(Path(python).with_name("prefect"))
        subprocess.run(
            [prefect, "--no-prompt", "deploy", "--name", DEPLOYMENT.split("/")[1]],
            env=environment,
            cwd=code,
            check=True,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        if variant == "before":
            command = [prefect, "worker", "start", "--pool", "collect"]
        else:
            command = [python, "-m", "deployments.worker", "--pool", "collect"]
    with process(command, environment, code, log) as child:
        asyncio.run(wait_for_deployment())
        print(f"{mode} {variant} ({code}): warming up", flush=True)
        asyncio.run(time_starts(2))
        cpu = idle_cpu({mode: child.pid, "server": server}, idle) if idle else {}
        if cpu:
            print(
                f"{mode} {variant} idle over {idle:.0f} s: {mode} {cpu[mode]:.1%}, server {cpu['server']:.1%}"
            )
        before = load()
        timed = asyncio.run(time_starts(runs))
        after = load()
    seconds, pickup = [running for _, running in timed], statistics.median(pending for pending, _ in timed)
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    shown = ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"
    p50 = statistics.median(seconds)
    print(
        f"{mode} {variant}: p50 {p50:.2f} s (picked up {pickup:.2f} s), "
        f"p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
    )
    return (
        f"| {datetime.now(UTC):%Y-%m-%d} | {mode} | {variant} | {shown} | {len(seconds)} | {pickup:.2f} s "
        f"| {p50:.2f} s | {p95:.2f} s | {ordered[-1]:.2f} s "
        f"| {cpu.get(mode, 0):.1%} | {cpu.get('server', 0):.1%} | {before} → {after} |"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", action="append", choices=["serve", "worker"])
    parser.add_argument("--variant", action="append", choices=list(VARIANTS))
    parser.add_argument("--before-dir", type=Path, help="the code before (needed for --variant before)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60, help="seconds of idle CPU measured (0: none)")
    parser.add_argument("--port", type=int, default=0, help="the Prefect server's port (default: a free one)")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    modes, variants = args.mode or ["serve", "worker"], args.variant or ["after"]
    if "before" in variants and not args.before_dir:
        raise SystemExit("--variant before needs --before-dir")
    scratch = Path(tempfile.mkdtemp(prefix="switchyard-starts-"))
    args.port = args.port or free_port()
    api = f"http://127.0.0.1:{args.port}/api"
    env = dict(os.environ) | {
        "PREFECT_HOME": str(scratch / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "SWITCHYARD_DATA_DIR": str(scratch / "data"),
    }
    os.environ.update({k: env[k] for k in ("PREFECT_HOME", "PREFECT_API_URL", "SWITCHYARD_DATA_DIR")})
    subprocess.run(
        [sys.executable, "-m", "db.migrate"], env=env | {"PYTHONPATH": str(PROJECT_ROOT)}, check=True
    )
    server = prefect_server_command(args.port)
    server_env = env | {"PYTHONPATH": str(PROJECT_ROOT)}
    rows = []
    try:
        with process(server, server_env, scratch, scratch / "server.log") as prefect_server:
            wait_healthy(api)
            for mode in modes:
                for variant in variants:
                    code = args.before_dir.resolve() if variant == "before" else PROJECT_ROOT
                    rows.append(
                        measure(mode, variant, code, env, args.runs, scratch, prefect_server.pid, args.idle)
                    )
    finally:
        print(f"logs in {scratch}")
    if args.record:
        record("starts", HEADER, "\n".join(rows))
    shutil.rmtree(scratch / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
