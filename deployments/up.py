"""``make demo``'s and ``make cluster``'s process runner: a Procfile's processes, their output in one
terminal, one clean stop.

Each process runs in a session of its own, so Ctrl-C reaches only this runner, which then stops the
processes in reverse Procfile order (the demo first, the sandbox last, so nothing loses its server
while stopping): SIGTERM to its whole process group, SIGKILL only after ``STOP_GRACE`` seconds. It
stops them all the same way when one exits by itself. Every line a process writes goes to
``var/logs/NAME.log``; the terminal gets the same lines with each Python traceback cut to its last
line (the log file keeps it whole).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from core.settings import PROJECT_ROOT, get_settings

PROCFILE = PROJECT_ROOT / "Procfile"
STOP_GRACE = 15.0
TRACEBACKS = ("Traceback (most recent call last):", "Exception Group Traceback (most recent call last):")
TRACEBACK_CONTINUED = ("During handling of the above exception", "The above exception was the direct cause")


def read_procfile(path: Path = PROCFILE) -> list[tuple[str, str]]:
    """The (name, command) pairs of a Procfile, in order."""
    entries: list[tuple[str, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, separator, command = line.partition(":")
        if not separator or not name.strip() or not command.strip():
            raise SystemExit(f"{path}:{number}: expected 'name: command', got {line!r}")
        entries.append((name.strip(), command.strip()))
    return entries


@dataclass
class TracebackFolder:
    """Cuts each Python traceback in a stream of lines down to one line; the exception line stays."""

    log_name: str
    lines: int = 0

    def feed(self, line: str) -> list[str]:
        """The lines to show for ``line``: none while inside a traceback."""
        if line.lstrip(" +|").startswith(TRACEBACKS):
            self.lines += 1
            return []
        if self.lines and (not line.strip() or line[0].isspace() or line.startswith(TRACEBACK_CONTINUED)):
            self.lines += 1
            return []
        return [*self.finish(), line]

    def finish(self) -> list[str]:
        """The note for a traceback just cut short, if any."""
        folded, self.lines = self.lines, 0
        return [f"  ... a traceback of {folded} lines (in {self.log_name})\n"] if folded else []


@dataclass
class Process:
    """One Procfile process, started in its own session."""

    name: str
    command: str
    popen: subprocess.Popen[str] = field(init=False)

    def start(self, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            self.command,
            shell=True,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
            errors="replace",
        )

    def running(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, grace: float) -> str:
        """SIGTERM to its process group; SIGKILL once if still alive after ``grace`` s. Say how it ended."""
        if not self.running():
            return f"had exited (rc={self.popen.returncode})"
        self.signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.popen.wait()
            return f"did not stop within {grace:.0f} s: killed"
        self.signal_group(signal.SIGKILL)  # what it left behind in its group (flow-run processes)
        return "stopped"


class Output:
    """Writes each process's lines to its log file and, prefixed and folded, to the terminal."""

    def __init__(self, log_dir: Path, width: int, terminal: TextIO | None = None) -> None:
        self.log_dir = log_dir
        self.width = width
        self.terminal = terminal or sys.stdout
        self.lock = threading.Lock()
        log_dir.mkdir(parents=True, exist_ok=True)

    def say(self, name: str, line: str) -> None:
        with self.lock:
            self.terminal.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {line}")
            self.terminal.flush()

    def pump(self, name: str, stream: IO[str]) -> None:
        """Copy one process's output until it closes."""
        path = self.log_dir / f"{name}.log"
        folder = TracebackFolder(log_name=os.path.relpath(path, PROJECT_ROOT))
        with path.open("a", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                log.flush()
                for shown in folder.feed(line):
                    self.say(name, shown)
        for shown in folder.finish():
            self.say(name, shown)


def run(entries: list[tuple[str, str]], log_dir: Path, grace: float = STOP_GRACE) -> int:
    """Start every process, wait for Ctrl-C/SIGTERM or for one to exit, stop them all; the exit status."""
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    processes = [Process(name, command) for name, command in entries]
    output = Output(log_dir, width=max(len(name) for name, _ in [*entries, ("up", "")]))
    pumps = []
    for process in processes:
        process.start(dict(os.environ))
        assert process.popen.stdout is not None
        pump = threading.Thread(target=output.pump, args=(process.name, process.popen.stdout), daemon=True)
        pump.start()
        pumps.append(pump)
        output.say("up", f"{process.name} started (pid {process.popen.pid}): {process.command}\n")
    status = 0
    while not stop.wait(0.2):
        exited = next((process for process in processes if not process.running()), None)
        if exited:
            output.say("up", f"{exited.name} exited (rc={exited.popen.returncode}): stopping the others\n")
            status = 1
            break
    if status == 0:
        output.say("up", "stopping (the demo first, the sandbox last)\n")
    for process in reversed(processes):
        output.say("up", f"{process.name} {process.stop(grace)}\n")
    for pump in pumps:
        pump.join(timeout=2)
    output.say("up", f"all stopped; the full output is in {log_dir}\n")
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    return status


def main() -> None:
    """``python -m deployments.up [PROCFILE]``: the Procfile named (in the project), else ``Procfile``."""
    path = PROJECT_ROOT / sys.argv[1] if len(sys.argv) > 1 else PROCFILE
    sys.exit(run(read_procfile(path), get_settings().data_dir / "logs"))


if __name__ == "__main__":
    main()
