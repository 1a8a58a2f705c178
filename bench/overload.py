"""Benchmark: ten times the demo's load at once on a busy machine: the sweeps skip, nothing piles up,
nothing is lost, and everything finishes.

Starts the demo through ``bench.demo`` (ports moved, a fresh data directory), waits until it has
seeded and ``--settle`` s more, then submits ``--times`` times at once what the demo submits on its
first start (a word-count request over the sandbox's demo pages, a mailing to the 200 demo clients, a
brief on the demo's two keywords from five platforms), each started as its own run the way the
dashboard starts it, while ``--hogs`` busy loops hold the CPU. Each item's two halves are timed, as a
person pressing "submit" waits for them: storing it, and starting its run (``deployments.runs``); the
Prefect client's retried requests (503 from a busy server, timeouts) are counted. Every ``--sample`` s
it counts the live flow-run processes of serve and the runs of each deployment that are Pending or
Running, until every submitted item is in a final state (or ``--timeout``), then watches ``--after`` s
more. Meanwhile a thread asks the Prefect server's ``/api/health`` every second and keeps the longest
wait for an answer (an answer needs the server's event loop, not its database: a long one means the
server stood still). At the end:
the sweeps' runs since the load began by state (a Cancelled run is one the concurrency limit skipped),
the most runs of one sweep active at once, and the items not final when it ends (unfinished, not lost:
they are in the database, and a later run takes them).

    python -m bench.overload [--ports 18610] [--times 10] [--hogs 2] [--timeout 900] [--label L] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import record
from bench.demo import demo_env, moved_demo_command
from bench.idle import flow_run_processes, load, start_demo, stop_demo, wait_ready
from core.settings import PROJECT_ROOT


@dataclass(frozen=True)
class Backlog:
    """Submitted items not in a final state yet."""

    pages: int
    messages: int
    briefs: int

    @property
    def total(self) -> int:
        return self.pages + self.messages + self.briefs


def backlog() -> Backlog:
    """What the app's database still has to do (pages, messages, briefs not final)."""
    from db.briefs.models import UNFINISHED
    from db.briefs.queries import count_by_status
    from db.engine import session_factory
    from db.mailing.stats import message_totals
    from db.webpages import PageStatus, status_totals
    from rules.mailing import MessageStatus

    with session_factory()() as session:
        pages = status_totals(session)
        _, messages = message_totals(session)
        briefs = count_by_status(session)
    return Backlog(
        pages=pages.get(PageStatus.NOT_STARTED, 0) + pages.get(PageStatus.PENDING, 0),
        messages=messages.get(MessageStatus.NEW, 0) + messages.get(MessageStatus.SENDING, 0),
        briefs=sum(briefs.get(status, 0) for status in UNFINISHED),
    )


@dataclass(frozen=True)
class Submitted:
    """One item of the load: seconds to store it and to start its run, and whether a run started."""

    kind: str
    store: float
    start: float
    started: bool


class ClientRetries(logging.Handler):
    """Counts the requests Prefect's client retried (its debug lines), by status code or exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "retryable" not in message:
            return
        code = re.search(r"status code (\d+)", message)
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "error"
        self.seen[code.group(1) if code else error] += 1


def count_client_retries() -> ClientRetries:
    """From now on, count the retries of this process's Prefect clients (their debug lines, kept off
    the console)."""
    retries = ClientRetries()
    client_logger = logging.getLogger("prefect.client")
    client_logger.setLevel(logging.DEBUG)
    client_logger.propagate = False
    client_logger.addHandler(retries)
    return retries


def submit_load(times: int, sandbox_url: str) -> list[Submitted]:
    """``times`` × the demo's request, mailing and brief, each stored and started as its own run now."""
    from deployments.demo import store_demo_brief, store_demo_mailing, store_demo_request
    from deployments.runs import start_collection, start_dispatch, start_processing

    items: list[tuple[str, Callable[[], int], Callable[[int], str]]] = [
        ("request", lambda: store_demo_request(sandbox_url), start_processing),
        ("mailing", store_demo_mailing, start_dispatch),
        ("brief", store_demo_brief, start_collection),
    ]
    submitted = []
    for _ in range(times):
        for kind, store, start in items:
            began = time.monotonic()
            item_id = store()
            stored = time.monotonic()
            said = start(item_id)
            item = Submitted(kind, stored - began, time.monotonic() - stored, said.startswith("Started"))
            submitted.append(item)
            print(
                f"  {kind} {item_id}: stored in {item.store:.1f} s, started in {item.start:.1f} s: {said}",
                flush=True,
            )
    return submitted


class HealthProbe(threading.Thread):
    """Asks ``url`` every ``every`` s until stopped; ``longest``: the longest wait for an answer (or an
    error) in seconds, an unanswered question included up to the moment it is read."""

    def __init__(self, url: str, every: float = 1.0) -> None:
        super().__init__(name="health probe", daemon=True)
        self.url, self.every = url, every
        self.stopped = threading.Event()
        self.longest = 0.0
        self.asked: float | None = None

    def run(self) -> None:
        import httpx

        with httpx.Client(timeout=600) as client:
            while not self.stopped.is_set():
                self.asked = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(self.url)
                self.longest = max(self.longest, time.monotonic() - self.asked)
                self.asked = None
                self.stopped.wait(self.every)

    def stop(self) -> float:
        """Stop asking; the longest wait."""
        self.stopped.set()
        asked = self.asked
        return max(self.longest, time.monotonic() - asked if asked is not None else 0.0)


def seconds(values: list[float]) -> str:
    """p50 / max of ``values``, in seconds."""
    return f"{statistics.median(values):.1f} / {max(values):.1f} s" if values else "-"


async def active_runs(sweeps: dict[str, str]) -> Counter[str]:
    """Pending or Running runs per sweep deployment (by name), and in all under ``"all"``."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
                )
            ),
            limit=200,
        )
    counts = Counter(sweeps[str(run.deployment_id)] for run in runs if str(run.deployment_id) in sweeps)
    counts["all"] = len(runs)
    return counts


async def sweep_ids() -> dict[str, str]:
    """The scheduled deployments' ids and names."""
    from prefect import get_client

    async with get_client() as client:
        return {str(d.id): d.name for d in await client.read_deployments() if d.schedules}


async def sweep_outcomes(sweeps: dict[str, str], since: datetime) -> dict[str, Counter[str]]:
    """Each sweep's runs expected to start since ``since``, by state name."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
    )

    outcomes: dict[str, Counter[str]] = {}
    async with get_client() as client:
        for deployment_id, name in sweeps.items():
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                    expected_start_time=FlowRunFilterExpectedStartTime(
                        after_=since, before_=datetime.now(UTC)
                    ),
                ),
                limit=200,
            )
            outcomes[name] = Counter(run.state.name for run in runs if run.state)
    return outcomes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ports", type=int, default=18610, help="bench.demo's first port")
    parser.add_argument("--makefile", type=Path, default=PROJECT_ROOT / "Makefile")
    parser.add_argument("--times", type=int, default=10, help="times the demo's first-start load")
    parser.add_argument("--hogs", type=int, default=2, help="busy loops meanwhile")
    parser.add_argument("--settle", type=float, default=30, help="seconds after the demo is ready, first")
    parser.add_argument("--sample", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting for the backlog")
    parser.add_argument("--after", type=float, default=90, help="seconds watched after the backlog is done")
    parser.add_argument("--label", default="", help="what this run is (recorded)")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="switchyard-overload-"))
    os.environ.update(demo_env(args.ports, data_dir, args.makefile))
    sandbox_url = f"http://127.0.0.1:{args.ports}"
    log = PROJECT_ROOT / "var" / "logs" / "bench-overload.out"
    command = moved_demo_command(args.ports, args.makefile)
    demo = start_demo(command, os.environ | {"PYTHONPATH": str(PROJECT_ROOT)}, log)
    print(f"the demo's data in {data_dir}, its output in {log}", flush=True)
    hogs: list[subprocess.Popen[bytes]] = []
    probe = HealthProbe(f"http://127.0.0.1:{args.ports + 1}/api/health")
    processes: list[int] = []
    most: Counter[str] = Counter()
    drained = done_at = None
    try:
        wait_ready(log, demo, 900)
        time.sleep(args.settle)
        sweeps = asyncio.run(sweep_ids())
        retries = count_client_retries()
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        probe.start()
        load_start, began, started = load(), datetime.now(UTC), time.monotonic()
        items = submit_load(args.times, sandbox_url)
        submitted = time.monotonic() - started
        submit_retries = sum(retries.seen.values())
        before = backlog()
        print(f"submitted {args.times}x in {submitted:.1f} s: backlog {before}", flush=True)
        while True:
            elapsed = time.monotonic() - started
            processes.append(flow_run_processes(demo.pid))
            active = asyncio.run(active_runs(sweeps))
            most = most | active  # the most of each at once
            left = backlog()
            if drained is None and left.total == 0:
                drained = elapsed
                done_at = elapsed + args.after
            print(
                f"{elapsed:6.0f} s  processes {processes[-1]:2d}  active {dict(active)}  left {left}",
                flush=True,
            )
            if (done_at is not None and elapsed >= done_at) or elapsed > args.timeout:
                break
            time.sleep(args.sample)
        stood_still = probe.stop()
        outcomes = asyncio.run(sweep_outcomes(sweeps, began))
        final_active = asyncio.run(active_runs(sweeps))
        load_end = load()
    finally:
        for process in hogs:
            process.kill()
        stop_seconds, status, _ = stop_demo(demo, log)
    left = backlog()
    limit = os.environ.get("SWITCHYARD_SERVE__LIMIT", "8")
    sweep_most = max((count for name, count in most.items() if name != "all"), default=0)
    states = sum(outcomes.values(), Counter())
    completed, cancelled, skipped = states["Completed"], states["Cancelled"], states["Skipped"]
    others = sum(states.values()) - completed - cancelled - skipped
    for name, counter in sorted(outcomes.items()):
        print(f"  {name}: {dict(counter)}; most active at once {most[name]}")
    drained_text = f"{drained:.0f} s" if drained is not None else f"not within {args.timeout:.0f} s"
    stores, starts = seconds([item.store for item in items]), seconds([item.start for item in items])
    not_started = sum(not item.started for item in items)
    client_retries = ", ".join(f"{count} × {why}" for why, count in retries.seen.most_common()) or "none"
    print(
        f"submitted in {submitted:.0f} s (an item stored in {stores} p50 / max, its run started in {starts}; "
        f"{not_started} of {len(items)} left to their sweep); Prefect client retries while submitting "
        f"{submit_retries}, in all {client_retries}"
    )
    for kind in dict.fromkeys(item.kind for item in items):
        print(f"  {kind}: started in {seconds([item.start for item in items if item.kind == kind])}")
    print(
        f"backlog {before} drained in {drained_text}; not final at the end: {left}; "
        f"flow-run processes max {max(processes)} (serve limit {limit}), after the load {processes[-1]}; "
        f"active runs max {most['all']}, at the end {final_active['all']}; sweeps: most active at once "
        f"{sweep_most}, {completed} completed, {cancelled} cancelled by their limit, {skipped} skipped idle, "
        f"{others} other; Prefect server's longest /api/health answer {stood_still:.1f} s; load "
        f"{load_start}->{load_end}; stopped in {stop_seconds:.1f} s, status {status}"
    )
    if args.record:
        record(
            "overload",
            "| date | run | load | hogs | submitted in | an item stored in (p50 / max) | its run started in "
            "(p50 / max) | left to the sweep | Prefect client retries while submitting | backlog after "
            "submitting (pages / messages / briefs) | drained in | not final at the end | flow-run processes "
            "(max / after) | active runs (max / end) | sweep runs: completed / cancelled by their limit / "
            "skipped idle / other | most of one sweep at once | longest /api/health answer | load (1 min) |\n"
            + "|---" * 18
            + "|",
            f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {args.label} | {args.times}x | {args.hogs} | "
            f"{submitted:.0f} s | {stores} | {starts} | {not_started} of {len(items)} | {submit_retries} | "
            f"{before.pages} / {before.messages} / {before.briefs} | {drained_text} | {left.total} | "
            f"{max(processes)} / {processes[-1]} | {most['all']} / {final_active['all']} | {completed} / "
            f"{cancelled} / {skipped} / {others} | {sweep_most} | {stood_still:.1f} s | "
            f"{load_start}->{load_end} |",
        )


if __name__ == "__main__":
    main()
