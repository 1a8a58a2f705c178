"""``make cluster``: the production shape on one machine (Procfile.cluster), step by step.

    python -m deployments.cluster check            both PostgreSQL databases answer (a clear error if not)
    python -m deployments.cluster setup            once the Prefect API answers: work pools, crash
                                                   automations, every deployment of prefect.yaml, the
                                                   sweeps' late runs skipped; then marks the cluster ready
    python -m deployments.cluster worker POOL N --limit L [--restart-seconds S]
                                                   once ready: process worker POOL-N (deployments/worker.py)
                                                   running at most L flow runs at once, started again S s
                                                   after it dies
                                                   (a supervisor's job; 0: left dead)

The app database is migrated by ``make cluster`` before any of these starts; the Makefile passes the
``CLUSTER_*`` variables in. Settings: the usual ``SWITCHYARD_*`` and ``PREFECT_*`` ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from core.settings import PROJECT_ROOT, get_settings
from deployments.late_runs import skip_late_runs
from deployments.pools import main as create_pools_and_automations
from deployments.readiness import wait_for_prefect_api
from deployments.specs import load_specs

READY_WAIT = 600.0


def ready_marker() -> Path:
    """The file ``setup`` writes when the server is prepared; workers wait for it."""
    return get_settings().data_dir / "cluster" / "ready"


def check_database(url: str, what: str) -> str | None:
    """None when ``url`` answers a query, else what is wrong and how to fix it (no password shown)."""
    shown = make_url(url).render_as_string(hide_password=True)
    sync_url = make_url(url).set(drivername="postgresql+psycopg2")
    engine = create_engine(sync_url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        database = make_url(url).database
        hint = (
            f"create it: createdb -h {sync_url.host} -U {sync_url.username} {database}"
            if "does not exist" in reason
            else "is PostgreSQL running there, and do the host, port, user and password hold?"
        )
        return f"{what} at {shown} is not reachable: {reason}\n  {hint}"
    finally:
        engine.dispose()
    return None


def check(app_url: str, prefect_url: str) -> None:
    """Exit with a clear message unless both databases are PostgreSQL and answer."""
    problems = []
    for url, what, variable in (
        (app_url, "the app database", "CLUSTER_DATABASE_URL"),
        (prefect_url, "Prefect's database", "CLUSTER_PREFECT_DATABASE_URL"),
    ):
        if not url.startswith("postgresql"):
            problems.append(f"{what}: {variable} must be a postgresql URL, got {url!r}")
        elif problem := check_database(url, what):
            problems.append(problem)
    if problems:
        raise SystemExit("make cluster needs PostgreSQL:\n" + "\n".join(problems))
    print("both databases answer")


def setup() -> None:
    """Prepare the Prefect server once it answers, mark the cluster ready, then stay (a Procfile
    process that exits would stop the others)."""
    marker = ready_marker()
    marker.unlink(missing_ok=True)
    wait_for_prefect_api()
    create_pools_and_automations()
    subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], cwd=PROJECT_ROOT, check=True
    )
    sweeps = [spec.full_name for spec in load_specs() if spec.is_sweep]
    for name, count in asyncio.run(skip_late_runs(sweeps)).items():
        if count:
            print(f"{name}: {count} late runs skipped")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    print("cluster ready: the workers start now", flush=True)
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    signal.sigwait(stops)
    marker.unlink(missing_ok=True)


def worker_command(pool: str, name: str, limit: int) -> list[str]:
    """One process worker of ``pool`` (deployments/worker.py: its runs start warm)."""
    return [sys.executable, "-m", "deployments.worker", "--pool", pool, "--name", name, "--limit", str(limit)]


def worker_env() -> dict[str, str]:
    """The worker's environment: its flow runs send heartbeats as often as the crash automation expects,
    and it asks its pool for runs every second (Prefect's default 10 s), as `make worker` does."""
    heartbeat = str(get_settings().serve.heartbeat_seconds)
    return {
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        **os.environ,
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": heartbeat,
    }


def supervise(command: list[str], env: dict[str, str], restart_seconds: float, label: str) -> int:
    """Run ``command``; when it dies on its own, start it again after ``restart_seconds`` (0: do not).
    SIGTERM/SIGINT stop it and return."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        child = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
        print(f"{label}: started (pid {child.pid})", flush=True)
        code = child.wait()
        if stopping:
            return 0
        if restart_seconds <= 0:
            print(f"{label}: exited (rc={code}); not restarted (--restart-seconds 0)", flush=True)
            while not stopping:  # stay, so that the other Procfile processes keep running
                time.sleep(1)
            return code
        print(f"{label}: exited (rc={code}); restarting in {restart_seconds:.0f} s", flush=True)
        time.sleep(restart_seconds)
        if stopping:
            return 0


def worker(pool: str, number: int, limit: int, restart_seconds: float) -> None:
    """Wait for ``setup``, then run (and keep running) worker ``POOL-N``."""
    marker = ready_marker()
    deadline = time.monotonic() + READY_WAIT
    while not marker.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the cluster was not ready within {READY_WAIT:.0f} s (see the setup process)")
        time.sleep(1)
    name = f"{pool}-{number}"
    sys.exit(supervise(worker_command(pool, name, limit), worker_env(), restart_seconds, f"worker {name}"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check")
    checking.add_argument("--app", default=os.environ.get("SWITCHYARD_DATABASE_URL", ""))
    checking.add_argument("--prefect", default=os.environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL", ""))
    commands.add_parser("setup")
    working = commands.add_parser("worker")
    working.add_argument("pool")
    working.add_argument("number", type=int)
    working.add_argument("--limit", type=int, required=True, help="flow runs this worker runs at once")
    working.add_argument("--restart-seconds", type=float, default=5.0, help="0: a dead worker stays dead")
    args = parser.parse_args()
    if args.command == "check":
        check(args.app, args.prefect)
    elif args.command == "setup":
        setup()
    else:
        worker(args.pool, args.number, args.limit, args.restart_seconds)


if __name__ == "__main__":
    main()
