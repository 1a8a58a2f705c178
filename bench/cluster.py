"""Benchmark: one mailing on the cluster shape, sent by 1 and by 2 process workers, and a worker killed.

It starts the processes itself (needs only PostgreSQL; do not run it beside ``make cluster`` on the
same ports): the sandbox (gateway latency ``--latency-ms``), a Prefect server on PostgreSQL, the
setup of ``make cluster`` (work pools, crash automations, ``prefect deploy --all``), one ``collect``
worker (its every-minute sweep gives back the claims of crashed runs) and, per scenario, 1 or 2
``mailing`` workers with ``--limit``. The app data go to a fresh schema of ``--database-url``.

Per scenario: a mailing of N messages is stored, ``dispatch-mailing`` is started for it (as the
dashboard does), and the clock runs from that start to the last message marked sent. At the gateway:
duplicates (an id accepted twice) and lost (never accepted). Which worker ran which flow run comes
from the workers' own logs. The CPU seconds spent meanwhile, by process started here (with its flow
runs and their senders), PostgreSQL, and the rest of the machine (``other``: other helpers' too).

``--kill worker machine``: with 2 workers, once ``--kill-at`` of the messages are sent, kill -9 the
worker running the dispatch (``machine``: with its flow-run processes, as when a machine is lost);
then the time until the mailing finished, the messages claimed and not recorded at the kill (the sends in
flight, at most), the gateway's accepted-but-not-recorded count at the kill, and the Prefect states of
the runs afterwards.

    python -m bench.cluster --messages 20000 100000 --latency-ms 50 [--workers 1 2]
        [--kill worker machine] [--kill-only] [--database-url URL] [--prefect-database-url URL]
        [--prefect-port P] [--sandbox-port P] [--fan-out N] [--record]

``--fan-out`` sets ``SWITCHYARD_MAILING__FAN_OUT`` on the mailing workers (1: a mailing's dispatch
starts one helper run, so both workers send it), ``--senders`` ``SWITCHYARD_MAILING__SENDERS``
(sender processes per dispatch run) and ``--senders-per-machine``
``SWITCHYARD_MAILING__SENDERS_PER_MACHINE`` (the senders of every run of this machine together;
default: the CPU count). The workers share one data directory, so one bound holds for all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import httpx

from bench.common import configure, record
from bench.idle import TICKS, descendants, read_procs

HEADER = (
    "| date | scenario | messages | gateway latency | trigger → last sent | messages/s | runs per worker "
    "| duplicates | lost | CPU s, trigger → last sent | load |\n|---|---|---|---|---|---|---|---|---|---|---|"
)
KILL_HEADER = (
    "| date | scenario | messages | killed at (sent) | claimed, unrecorded at kill | accepted, unrecorded "
    "at kill | kill → last sent | duplicates | lost | runs afterwards | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)
SUBMITTING = re.compile(r"Worker '([\w-]+)' submitting flow run '([0-9a-f-]{36})'")
ABORTED = re.compile(r"Aborted submission of flow run '([0-9a-f-]{36})'")
DONE_WAIT = 900.0


def below(pid: int) -> list[int]:
    """The processes below ``pid``: a cold run's process is the worker's child (in a process group of
    its own, so killing the worker's group does not reach it), a warm one the child of the worker's
    forkserver (deployments/warm_starts.py)."""
    return [proc.pid for proc in descendants(read_procs(), pid) if proc.pid != pid]


def kill_tree(pid: int) -> list[int]:
    """kill -9 ``pid`` and every process below it (a lost machine: the worker and its flow-run processes)."""
    killed = [pid, *below(pid)]
    for each in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)
    return killed


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every core; not idle or waiting for I/O)."""
    user, nice, system, _idle, _iowait, irq, softirq = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    )
    return (user + nice + system + irq + softirq) / TICKS


def cpu_by_process(started: list[Started]) -> dict[str, float]:
    """CPU seconds so far of each process this benchmark started, with everything below it (its flow
    runs and their senders, counted once they ended and were waited for), of PostgreSQL (every
    database's backends: other helpers' too), and of the machine in all (busy time of every core)."""
    procs = read_procs()
    spent = {each.name: sum(p.cpu for p in descendants(procs, each.popen.pid)) for each in started}
    spent["postgres"] = sum(p.own for p in procs.values() if p.cmdline.startswith("postgres"))
    postmaster = [p for p in procs.values() if p.cmdline.startswith("/usr/lib/postgresql")]
    spent["postgres"] += sum(p.cpu for p in postmaster)  # its own and that of the backends it reaped
    spent["machine"] = machine_busy()
    return spent


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> str:
    """What each process (and the machine) spent between two `cpu_by_process` samples, the rest of
    the machine as ``other`` (other helpers included)."""
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    machine = spent.pop("machine")
    spent["other"] = machine - sum(spent.values())
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items()) + f"; machine {machine:.1f}"


@dataclass
class Started:
    """A process this benchmark started (its own session), its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        flow_runs = below(self.popen.pid)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=15)
        for pid in flow_runs:  # flow-run processes it left (in groups of their own: not in its group)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


@dataclass
class Cluster:
    """Every process started, and where their logs go."""

    logs: Path
    env: dict[str, str]
    started: list[Started] = field(default_factory=list)

    def start(self, name: str, command: list[str], extra: dict[str, str] | None = None) -> Started:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                command,
                env=self.env | (extra or {}),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        process = Started(name, popen, log)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()
        self.started.clear()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, nargs="+", default=[20_000])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="mailing workers per scenario")
    parser.add_argument("--limit", type=int, default=2, help="flow runs one mailing worker runs at once")
    parser.add_argument(
        "--kill",
        nargs="*",
        choices=["worker", "machine"],
        default=[],
        help="kill scenarios after the others (2 workers): the worker only, or with its flow runs",
    )
    parser.add_argument("--kill-only", action="store_true", help="only the kill scenarios")
    parser.add_argument("--kill-at", type=float, default=0.3, help="share of the messages sent at the kill")
    parser.add_argument("--fan-out", type=int, default=1, help="SWITCHYARD_MAILING__FAN_OUT of the workers")
    parser.add_argument(
        "--senders",
        type=int,
        default=os.cpu_count() or 1,
        help="SWITCHYARD_MAILING__SENDERS: sender processes per dispatch run",
    )
    parser.add_argument(
        "--senders-per-machine",
        type=int,
        default=os.cpu_count() or 1,
        help="SWITCHYARD_MAILING__SENDERS_PER_MACHINE: senders of all runs of this machine (the CPU count)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "CLUSTER_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/switchyard"
        ),
    )
    parser.add_argument(
        "--prefect-database-url",
        default=os.environ.get(
            "CLUSTER_PREFECT_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/prefect"
        ),
    )
    parser.add_argument("--prefect-port", type=int, default=4200)
    parser.add_argument("--sandbox-port", type=int, default=8001)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def cluster_env(args: argparse.Namespace) -> dict[str, str]:
    """``make cluster``'s environment, on this run's ports and databases."""
    sandbox = f"http://127.0.0.1:{args.sandbox_port}"
    platforms = {
        f"SWITCHYARD_PLATFORMS__{name.upper()}__BASE_URL": f"{sandbox}/platforms/{name}"
        for name in ("weibo", "weixin", "xiaohongshu", "douyin", "bilibili")
    }
    return {
        **os.environ,
        "PREFECT_HOME": os.environ.get("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-bench-")),
        "PREFECT_API_URL": f"http://127.0.0.1:{args.prefect_port}/api",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": args.prefect_database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "SWITCHYARD_SANDBOX__PORT": str(args.sandbox_port),
        "SWITCHYARD_SANDBOX__SMTP_PORT": "0",
        "SWITCHYARD_SANDBOX__LATENCY_MS": str(args.latency_ms),
        "SWITCHYARD_GATEWAY__BASE_URL": f"{sandbox}/gateway",
        "SWITCHYARD_NETWORK__BASE_URL": f"{sandbox}/network",
        "SWITCHYARD_MICROBLOG__BASE_URL": f"{sandbox}/microblog",
        "SWITCHYARD_FETCH__ALLOWED_NETWORKS": "127.0.0.1/32",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        **platforms,
    }


def wait_until(check: object, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(every)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_shape(cluster: Cluster, args: argparse.Namespace) -> None:
    """Sandbox, Prefect server, setup (pools, automations, deployments), one collect worker."""
    python = sys.executable
    cluster.start("sandbox", [python, "-m", "sandbox"])
    cluster.start(
        "prefect",
        [python, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(args.prefect_port)],
    )
    setup = cluster.start("setup", [python, "-m", "deployments.cluster", "setup"])

    def ready() -> bool:
        if setup.popen.poll() is not None:
            raise SystemExit(f"the cluster setup failed (rc={setup.popen.returncode}): see {setup.log}")
        return "cluster ready" in setup.text()

    wait_until(ready, 600, "the cluster setup", every=2)
    start_worker(cluster, "collect", 1, limit=4, fan_out=0, senders=1, per_machine=args.senders_per_machine)


def start_worker(
    cluster: Cluster, pool: str, number: int, *, limit: int, fan_out: int, senders: int, per_machine: int
) -> Started:
    """A process worker started directly (no supervisor), so that killing it leaves it dead."""
    from deployments.cluster import worker_command, worker_env

    name = f"{pool}-{number}"
    env = worker_env() | {
        "SWITCHYARD_MAILING__FAN_OUT": str(fan_out),
        "SWITCHYARD_MAILING__SENDERS": str(senders),
        "SWITCHYARD_MAILING__SENDERS_PER_MACHINE": str(per_machine),
    }
    process = cluster.start(name, worker_command(pool, name, limit), env)
    wait_until(lambda: f"Worker '{name}' started" in process.text(), 120, f"worker {name}")
    return process


def seed(messages: int, tag: str) -> int:
    """``messages`` clients tagged ``tag`` and a mailing to them, open now; its id."""
    from bench.mailing import seed as seed_mailing

    return seed_mailing(messages, tag)


def status_counts(mailing_id: int) -> Counter[str]:
    from sqlalchemy import func, select

    from db.engine import session_factory
    from db.mailing import Message

    with session_factory().begin() as session:
        rows = session.execute(
            select(Message.status, func.count())
            .where(Message.mailing_id == mailing_id)
            .group_by(Message.status)
        )
        return Counter({str(getattr(status, "value", status)): count for status, count in rows})


def gateway(base: str) -> dict[str, object]:
    return httpx.get(f"{base}/gateway/_sandbox/deliveries", timeout=30).json()


async def trigger(mailing_id: int) -> UUID:
    """Start ``dispatch-mailing`` for the mailing, as the dashboard does; the flow run's id."""
    from prefect.deployments import run_deployment

    from core.names import DISPATCH_MAILING

    run = await run_deployment(DISPATCH_MAILING, parameters={"mailing_id": mailing_id}, timeout=0)
    return run.id


async def run_states(run_ids: list[str]) -> dict[str, str]:
    """Each flow run's state name now."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    if not run_ids:
        return {}
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(i) for i in run_ids]))
        )
    return {str(run.id): run.state.name if run.state else "?" for run in runs}


def runs_by_worker(workers: list[Started], marks: list[int]) -> dict[str, list[str]]:
    """The flow runs each worker submitted, from its log after its own mark (a worker started again
    under the same name appends to the same log); a submission the server aborted (another worker
    had taken the run) does not count."""
    found: dict[str, list[str]] = {}
    for worker, mark in zip(workers, marks, strict=True):
        text = worker.text()[mark:]
        aborted = set(ABORTED.findall(text))
        for name, run_id in SUBMITTING.findall(text):
            if run_id not in aborted:
                found.setdefault(name, []).append(run_id)
    return found


def load() -> str:
    return "load " + " / ".join(f"{value:.1f}" for value in os.getloadavg())


@dataclass
class Outcome:
    seconds: float
    rate: float
    duplicates: int
    lost: int
    runs: dict[str, list[str]]
    cpu: str
    load: str


def wait_sent(mailing_id: int, messages: int, timeout: float = DONE_WAIT) -> float:
    """Wait until every message is sent (or failed); the moment, by ``time.perf_counter``."""

    def ended() -> bool:
        counts = status_counts(mailing_id)
        return counts["sent"] + counts["failure"] + counts["cancelled"] >= messages

    wait_until(ended, timeout, "the mailing's end")
    return time.perf_counter()


def send_one(cluster: Cluster, args: argparse.Namespace, workers: list[Started], messages: int) -> Outcome:
    sandbox = f"http://127.0.0.1:{args.sandbox_port}"
    mailing_id = seed(messages, f"bench-{len(workers)}-{messages}-{time.time_ns()}")
    httpx.delete(f"{sandbox}/gateway/_sandbox/deliveries")
    marks = [len(worker.text()) for worker in workers]
    cpu_before = cpu_by_process(cluster.started)
    started = time.perf_counter()
    asyncio.run(trigger(mailing_id))
    finished = wait_sent(mailing_id, messages)
    cpu = cpu_spent(cpu_before, cpu_by_process(cluster.started))
    seconds = finished - started
    delivered = gateway(sandbox)
    runs = runs_by_worker(workers, marks)
    return Outcome(
        seconds=seconds,
        rate=messages / seconds,
        duplicates=len(delivered["duplicates"]),  # type: ignore[arg-type]
        lost=messages - int(delivered["delivered"]),  # type: ignore[arg-type]
        runs=runs,
        cpu=cpu,
        load=load(),
    )


def fan_out_label(args: argparse.Namespace) -> str:
    return (
        f"fan-out {args.fan_out}, {args.senders} sender(s) per run, ≤ {args.senders_per_machine} per machine"
    )


def describe_runs(runs: dict[str, list[str]]) -> str:
    return ", ".join(f"{name}: {len(ids)}" for name, ids in sorted(runs.items())) or "none seen"


def mailing_workers(cluster: Cluster, args: argparse.Namespace, count: int) -> list[Started]:
    """``count`` mailing workers (numbered from 1) with the scenario's options."""
    return [
        start_worker(
            cluster,
            "mailing",
            n,
            limit=args.limit,
            fan_out=args.fan_out,
            senders=args.senders,
            per_machine=args.senders_per_machine,
        )
        for n in range(1, count + 1)
    ]


def scenario(cluster: Cluster, args: argparse.Namespace, count: int) -> list[str]:
    """1 or 2 mailing workers, each size of mailing once; the rows for RESULTS.md."""
    workers = mailing_workers(cluster, args, count)
    rows = []
    try:
        for messages in args.messages:
            outcome = send_one(cluster, args, workers, messages)
            print(
                f"{count} worker(s), {messages} messages: {outcome.seconds:.1f} s = {outcome.rate:.0f}/s; "
                f"runs {describe_runs(outcome.runs)}; duplicates {outcome.duplicates}, lost {outcome.lost}; "
                f"CPU s {outcome.cpu}; {outcome.load}",
                flush=True,
            )
            rows.append(
                f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {count} mailing worker(s), --limit {args.limit}, "
                f"{fan_out_label(args)} | {messages:,} | {args.latency_ms} ms "
                f"| {outcome.seconds:.1f} s | {outcome.rate:.0f} | {describe_runs(outcome.runs)} "
                f"| {outcome.duplicates} | {outcome.lost} | {outcome.cpu} | {outcome.load} |"
            )
    finally:
        for worker in workers:
            worker.stop()
            cluster.started.remove(worker)
    return rows


def unrecorded_claims(mailing_id: int) -> int:
    """Messages claimed (sending) and not yet recorded: the sends in flight, at most."""
    return status_counts(mailing_id).get("sending", 0)


def kill_scenario(cluster: Cluster, args: argparse.Namespace, messages: int, lost_machine: bool) -> str:
    """2 workers; once ``--kill-at`` of the messages are sent, kill -9 the worker running the dispatch
    (``lost_machine``: its whole process group, the flow-run processes it started included)."""
    sandbox = f"http://127.0.0.1:{args.sandbox_port}"
    workers = mailing_workers(cluster, args, 2)
    try:
        mailing_id = seed(messages, f"bench-kill-{messages}-{time.time_ns()}")
        httpx.delete(f"{sandbox}/gateway/_sandbox/deliveries")
        marks = [len(worker.text()) for worker in workers]
        started = time.perf_counter()
        dispatch = str(asyncio.run(trigger(mailing_id)))
        wait_until(
            lambda: status_counts(mailing_id).get("sent", 0) >= messages * args.kill_at, DONE_WAIT, "the kill"
        )
        runs = runs_by_worker(workers, marks)
        victim = next((w for w in workers if dispatch in runs.get(w.name, [])), workers[0])
        if lost_machine:
            kill_tree(victim.popen.pid)
        else:
            os.kill(victim.popen.pid, signal.SIGKILL)
        killed = time.perf_counter()
        counts = status_counts(mailing_id)
        in_flight = counts.get("sending", 0)
        accepted = int(gateway(sandbox)["delivered"])  # type: ignore[arg-type]
        sent_at_kill = counts.get("sent", 0)
        how = ", with its flow runs" if lost_machine else ""
        print(
            f"killed {victim.name} (pid {victim.popen.pid}{how}) "
            f"at {sent_at_kill} sent, {in_flight} claimed and unrecorded, gateway accepted {accepted}",
            flush=True,
        )
        finished = wait_sent(mailing_id, messages)
        delivered = gateway(sandbox)
        runs = runs_by_worker(workers, marks)
        run_ids = [run_id for ids in runs.values() for run_id in ids]
        time.sleep(5)
        states = asyncio.run(run_states(run_ids))
        summary = Counter(states.values())
        print(
            f"kill → last sent {finished - killed:.1f} s (trigger → last sent {finished - started:.1f} s); "
            f"duplicates {len(delivered['duplicates'])}, lost {messages - int(delivered['delivered'])}; "  # type: ignore[arg-type]
            f"runs {describe_runs(runs)}; states {dict(summary)}; {load()}",
            flush=True,
        )
        crash_states = asyncio.run(wait_for_final(run_ids, timeout=240))
        print(
            f"states after waiting for the crash automation: {dict(Counter(crash_states.values()))}",
            flush=True,
        )
        what = "worker and its flow runs (a lost machine)" if lost_machine else "worker only"
        return (
            f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | 2 mailing workers, kill -9 of the {what}, "
            f"{fan_out_label(args)} | {messages:,} | {sent_at_kill:,} | {in_flight} "
            f"| {accepted - sent_at_kill} | {finished - killed:.1f} s | {len(delivered['duplicates'])} "  # type: ignore[arg-type]
            f"| {messages - int(delivered['delivered'])} | {describe_states(crash_states)} | {load()} |"  # type: ignore[arg-type]
        )
    finally:
        for worker in workers:
            worker.stop()
            cluster.started.remove(worker)


def describe_states(states: dict[str, str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(Counter(states.values()).items()))


async def wait_for_final(run_ids: list[str], timeout: float) -> dict[str, str]:
    """The runs' states once none is Pending or Running any more (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        states = await run_states(run_ids)
        if all(name not in ("Pending", "Running", "Submitting") for name in states.values()):
            return states
        if time.monotonic() > deadline:
            return states
        await asyncio.sleep(5)


def main() -> None:
    args = parse_args()
    configure(args.database_url)
    logs = Path(tempfile.mkdtemp(prefix="switchyard-cluster-bench-"))
    env = cluster_env(args) | {"SWITCHYARD_DATABASE_URL": os.environ["SWITCHYARD_DATABASE_URL"]}
    os.environ.update({key: env[key] for key in env if key.startswith(("PREFECT_", "SWITCHYARD_"))})
    from core.settings import get_settings
    from db.migrate import upgrade

    get_settings.cache_clear()
    upgrade()
    cluster = Cluster(logs, env)
    print(f"logs in {logs}", flush=True)
    try:
        start_shape(cluster, args)
        if not args.kill_only:
            rows = [row for count in args.workers for row in scenario(cluster, args, count)]
            if args.record:
                record("cluster", HEADER, "\n".join(rows))
        for kind in args.kill:
            row = kill_scenario(cluster, args, max(args.messages), lost_machine=kind == "machine")
            if args.record:
                record("cluster", KILL_HEADER, row)
    finally:
        cluster.stop_all()


if __name__ == "__main__":
    main()
