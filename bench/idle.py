"""Benchmark: the CPU an idle ``make demo`` costs, and the flow-run processes of serve under load.

Starts the demo (every Procfile process), waits until it has seeded and settled, then reads the CPU
time of the whole process tree from /proc (exited processes count through their parent's ``cutime``)
over ``--duration`` seconds, and samples how many flow-run processes ``deployments.serve`` has alive.
``--hogs N`` runs N busy loops (one per core) meanwhile: a loaded machine. At the end it stops the
demo as Ctrl-C would (SIGINT to its process group) and reports how the stop went.

``--ports BASE`` runs the demo through ``bench.demo`` instead of ``--command``: the Makefile's demo
environment with every port moved to BASE..BASE+4 and a fresh data directory (so every run seeds the
same demo); ``--data-dir`` starts it again on an earlier run's data instead (it seeds nothing then).
``--makefile`` names whose ``DEMO_ENV`` (another checkout's, for a side-by-side run) and ``--set
KEY=VALUE`` overrides one variable (e.g. ``PREFECT_RUNNER_POLL_FREQUENCY=1``).

    python -m bench.idle [--duration 300] [--settle 90] [--hogs 0] [--command "make demo"]
                         [--ports 18600 [--makefile PATH] [--set KEY=VALUE]] [--label TEXT] [--record]
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import record
from bench.demo import moved_demo_command
from core.settings import PROJECT_ROOT

READY = "Switchyard demo is running"
SERVE_ITSELF = "(of which serve itself)"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cpu: float  # seconds: own user + system, and that of its exited, waited-for children
    cmdline: str
    own: float = 0.0  # seconds: own user + system only


def read_procs() -> dict[int, Proc]:
    """Every process on the machine, from /proc."""
    procs: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        procs[int(entry.name)] = Proc(
            int(entry.name),
            int(fields[1]),
            (utime + stime + cutime + cstime) / TICKS,
            cmdline.strip(),
            (utime + stime) / TICKS,
        )
    return procs


def descendants(procs: dict[int, Proc], root: int) -> list[Proc]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            found.append(procs[pid])
            todo.extend(children.get(pid, []))
    return found


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds of the demo's tree so far, by Procfile process (the children of deployments.up)."""
    procs = read_procs()
    tree = descendants(procs, root)
    runner = next((p for p in tree if "-m deployments.up" in p.cmdline or "-m bench.demo" in p.cmdline), None)
    if runner is None:
        return {"all": sum(proc.cpu for proc in tree)}
    by_process = {
        child.cmdline.removeprefix("/bin/sh -c ")[:40]: sum(p.cpu for p in descendants(procs, child.pid))
        for child in tree
        if child.ppid == runner.pid
    }
    by_process["make and deployments.up"] = sum(p.cpu for p in tree) - sum(by_process.values())
    serve = _serve(tree)
    if serve is not None:  # serve's own CPU, apart from its flow runs' (their share of the serve line)
        by_process[SERVE_ITSELF] = serve.own
    return by_process


def _serve(tree: list[Proc]) -> Proc | None:
    return next((p for p in tree if "-m deployments.serve" in p.cmdline and "sh -c" not in p.cmdline), None)


def flow_run_processes(root: int) -> int:
    """Live processes below the ``deployments.serve`` process: its flow runs."""
    procs = read_procs()
    tree = descendants(procs, root)
    serve = _serve(tree)
    return len(descendants(procs, serve.pid)) - 1 if serve else 0


def flow_run_pids(root: int) -> set[int]:
    """The pids of the live processes below ``deployments.serve``."""
    procs = read_procs()
    serve = _serve(descendants(procs, root))
    return {p.pid for p in descendants(procs, serve.pid)[1:]} if serve else set()


def demo_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The command that starts the demo and its environment."""
    if args.ports is None:
        return shlex.split(args.command), dict(os.environ)
    command = moved_demo_command(args.ports, args.makefile)
    for item in args.set:
        command += ["--set", item]
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="switchyard-idle-")
    return command, os.environ | {"SWITCHYARD_DATA_DIR": data_dir, "PYTHONPATH": str(PROJECT_ROOT)}


def start_demo(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The demo in a session of its own (so it can be sent Ctrl-C as a terminal would), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(log: Path, demo: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until the demo says it is running."""
    started = time.monotonic()
    while READY not in log.read_text(errors="replace"):
        if demo.poll() is not None:
            raise SystemExit(f"the demo exited (rc={demo.returncode}); see {log}")
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the demo was not ready within {timeout:.0f} s; see {log}")
        time.sleep(1)
    return time.monotonic() - started


def stop_demo(demo: subprocess.Popen[bytes], log: Path) -> tuple[float, int, str]:
    """Ctrl-C to the demo's process group; seconds to stop, the exit status, and the lines that say 'kill'."""
    before = len(log.read_text(errors="replace").splitlines())
    started = time.monotonic()
    os.killpg(demo.pid, signal.SIGINT)
    demo.wait()
    lines = log.read_text(errors="replace").splitlines()[before:]
    killed = [line for line in lines if "kill" in line.lower() or "Error" in line]
    return time.monotonic() - started, demo.returncode, "; ".join(killed) or "none"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300, help="seconds measured")
    parser.add_argument("--settle", type=float, default=90, help="seconds after the demo is ready, first")
    parser.add_argument("--hogs", type=int, default=0, help="busy loops running meanwhile")
    parser.add_argument("--command", default="make demo")
    parser.add_argument("--ports", type=int, help="run bench.demo on BASE..BASE+4 instead of --command")
    parser.add_argument("--makefile", type=Path, default=PROJECT_ROOT / "Makefile", help="with --ports")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="with --ports")
    parser.add_argument("--data-dir", help="with --ports: this data directory (a second start seeds nothing)")
    parser.add_argument("--label", default="", help="what this run is (recorded)")
    parser.add_argument("--ready-timeout", type=float, default=900)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def load() -> str:
    """The 1-minute load average of the machine."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    args = parse_args()
    log = PROJECT_ROOT / "var" / "logs" / f"bench-idle-{args.ports or 'make'}.out"
    command, env = demo_command(args)
    demo = start_demo(command, env, log)
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        ready = wait_ready(log, demo, args.ready_timeout)
        print(f"demo ready after {ready:.0f} s; settling {args.settle:.0f} s", flush=True)
        time.sleep(args.settle)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        counts: list[int] = []
        started: set[int] = set()
        load_start = load()
        cpu_start, wall_start = tree_cpu(demo.pid), time.monotonic()
        while time.monotonic() - wall_start < args.duration:
            pids = flow_run_pids(demo.pid)
            counts.append(len(pids))
            started |= pids
            time.sleep(1)
        cpu_end = tree_cpu(demo.pid)
        wall = time.monotonic() - wall_start
        load_end = load()
        by_process = {name: cpu_end[name] - cpu_start.get(name, 0) for name in cpu_end}
        serve_itself = by_process.pop(SERVE_ITSELF, 0.0)
        cpu = sum(by_process.values())
    finally:
        for process in hogs:
            process.kill()
        stop_seconds, status, killed = stop_demo(demo, log)
    share = 100 * cpu / wall
    for name, seconds in sorted(by_process.items(), key=lambda item: -item[1]):
        print(f"  {seconds:6.1f} s  {100 * seconds / wall:5.1f}%  {name}")
    print(f"  {serve_itself:6.1f} s  {100 * serve_itself / wall:5.1f}%  {SERVE_ITSELF}")
    print(
        f"CPU {cpu:.1f} s in {wall:.0f} s = {share:.1f}% of one core; flow-run processes of serve: "
        f"{len(started)} seen, max {max(counts)} alive, mean {sum(counts) / len(counts):.1f}; "
        f"load {load_start} -> {load_end}; "
        f"Ctrl-C: stopped in {stop_seconds:.1f} s, exit status {status}, kill/error lines: {killed}"
    )
    if args.record:
        parts = {
            name.split()[2] if name.startswith("python -m") else name.split()[0]: seconds
            for name, seconds in by_process.items()
        }
        shares = ", ".join(
            f"{name} {100 * seconds / wall:.1f}%"
            for name, seconds in sorted(parts.items(), key=lambda item: -item[1])
            if seconds / wall >= 0.001
        )
        record(
            "idle",
            "| date | run | hogs | measured | CPU (all demo processes) | share of one core | by process "
            "(deployments.serve = serve + its flow runs) | serve itself | flow-run processes (seen / max / "
            "mean) | load (1 min, start -> end) | Ctrl-C stop |\n" + "|---" * 11 + "|",
            f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {args.label} | {args.hogs} | {wall:.0f} s | "
            f"{cpu:.1f} s | {share:.1f}% | {shares} | {100 * serve_itself / wall:.1f}% | "
            f"{len(started)} / {max(counts)} / {sum(counts) / len(counts):.1f} | {load_start}->{load_end} | "
            f"{stop_seconds:.1f} s, status {status}, kill/error lines: {killed} |",
        )


if __name__ == "__main__":
    main()
