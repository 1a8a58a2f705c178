"""Benchmark: the CPU an idle ``make demo`` costs, and the flow-run processes of serve under load.

Starts the demo (every Procfile process), waits until it has seeded and settled, then reads the CPU
time of the whole process tree from /proc (exited processes count through their parent's ``cutime``)
over ``--duration`` seconds, and samples how many flow-run processes ``deployments.serve`` has alive.
``--hogs N`` runs N busy loops (one per core) meanwhile: a loaded machine. At the end it stops the
demo as Ctrl-C would (SIGINT to its process group) and reports how the stop went.

    python -m bench.idle [--duration 300] [--settle 90] [--hogs 0] [--command "make demo"] [--record]
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import record
from core.settings import PROJECT_ROOT

READY = "Switchyard demo is running"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cpu: float  # seconds: own user + system, and that of its exited, waited-for children
    cmdline: str


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
            int(entry.name), int(fields[1]), (utime + stime + cutime + cstime) / TICKS, cmdline.strip()
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
    runner = next((p for p in tree if "-m deployments.up" in p.cmdline), None)
    if runner is None:
        return {"all": sum(proc.cpu for proc in tree)}
    by_process = {
        child.cmdline.removeprefix("/bin/sh -c ")[:40]: sum(p.cpu for p in descendants(procs, child.pid))
        for child in tree
        if child.ppid == runner.pid
    }
    by_process["make and deployments.up"] = sum(p.cpu for p in tree) - sum(by_process.values())
    return by_process


def flow_run_processes(root: int) -> int:
    """Live processes below the ``deployments.serve`` process: its flow runs."""
    procs = read_procs()
    tree = descendants(procs, root)
    serve = next((p for p in tree if "-m deployments.serve" in p.cmdline and "sh -c" not in p.cmdline), None)
    return len(descendants(procs, serve.pid)) - 1 if serve else 0


def start_demo(command: str, log: Path) -> subprocess.Popen[bytes]:
    """The demo in a session of its own (so it can be sent Ctrl-C as a terminal would), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            shlex.split(command),
            cwd=PROJECT_ROOT,
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
    parser.add_argument("--ready-timeout", type=float, default=900)
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    log = PROJECT_ROOT / "var" / "logs" / "bench-idle.out"
    demo = start_demo(args.command, log)
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        ready = wait_ready(log, demo, args.ready_timeout)
        print(f"demo ready after {ready:.0f} s; settling {args.settle:.0f} s", flush=True)
        time.sleep(args.settle)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        counts: list[int] = []
        cpu_start, wall_start = tree_cpu(demo.pid), time.monotonic()
        while time.monotonic() - wall_start < args.duration:
            counts.append(flow_run_processes(demo.pid))
            time.sleep(5)
        cpu_end = tree_cpu(demo.pid)
        wall = time.monotonic() - wall_start
        by_process = {name: cpu_end[name] - cpu_start.get(name, 0) for name in cpu_end}
        cpu = sum(by_process.values())
    finally:
        for process in hogs:
            process.kill()
        stop_seconds, status, killed = stop_demo(demo, log)
    share = 100 * cpu / wall
    for name, seconds in sorted(by_process.items(), key=lambda item: -item[1]):
        print(f"  {seconds:6.1f} s  {100 * seconds / wall:5.1f}%  {name}")
    print(
        f"CPU {cpu:.1f} s in {wall:.0f} s = {share:.1f}% of one core; flow-run processes of serve: "
        f"max {max(counts)}, mean {sum(counts) / len(counts):.1f} over {len(counts)} samples; "
        f"Ctrl-C: stopped in {stop_seconds:.1f} s, exit status {status}, kill/error lines: {killed}"
    )
    if args.record:
        record(
            "idle",
            "| date | hogs | measured | CPU (all demo processes) | share of one core | flow-run processes "
            "(max / mean) | Ctrl-C stop |\n|---|---|---|---|---|---|---|",
            f"| {datetime.now(UTC):%Y-%m-%d} | {args.hogs} | {wall:.0f} s | {cpu:.1f} s | {share:.1f}% | "
            f"{max(counts)} / {sum(counts) / len(counts):.1f} | {stop_seconds:.1f} s, status {status}, "
            f"kill/error lines: {killed} |",
        )


if __name__ == "__main__":
    main()
