"""What every benchmark script shares: a scratch setup, the sandbox in its own process, recording."""

from __future__ import annotations

import atexit
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

RESULTS = Path(__file__).with_name("RESULTS.md")


def configure(database_url: str, extra: dict[str, str] | None = None) -> None:
    """Settings for a run: a scratch data dir and database, no telemetry.

    A given PostgreSQL database gets a fresh schema for this run (dropped at exit), so what earlier
    runs left there never counts.
    """
    os.environ["SWITCHYARD_DATA_DIR"] = tempfile.mkdtemp(prefix="switchyard-bench-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if database_url.startswith("postgresql"):
        database_url = _scratch_schema(database_url)
    if database_url:
        os.environ["SWITCHYARD_DATABASE_URL"] = database_url
    os.environ.update(extra or {})


def _scratch_schema(database_url: str) -> str:
    """A new schema in ``database_url``'s database, dropped when the run ends; returns its URL."""
    schema = f"switchyard_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    atexit.register(drop)
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options=-csearch_path%3D{schema}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandbox_process(settings: dict[str, str], port: int = 0) -> Iterator[str]:
    """The sandbox in its own process (so it does not share the measured process's CPU), on ``port``
    (0: a free one); yields its URL."""
    port = port or free_port()
    env = os.environ | {"SWITCHYARD_SANDBOX__PORT": str(port)} | settings
    with server_process(["-m", "sandbox"], env, port) as (url, _):
        yield url


def own_server_args(module: str, port: int, latency_ms: int) -> list[str]:
    """The arguments that start one of our own benchmark servers (``bench.plain_gateway``,
    ``bench.http_server``: see ``plain_gateway.server_args``) on ``port``, for ``server_process``."""
    return ["-m", module, "--port", str(port), "--latency-ms", str(latency_ms)]


@contextmanager
def server_process(args: list[str], env: dict[str, str], port: int) -> Iterator[tuple[str, int]]:
    """``python ARGS`` serving on ``port`` of 127.0.0.1 (answering ``/health``); yields its URL and pid."""
    process = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("the sandbox did not start") from None
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) spent so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def database_name(database_url: str) -> str:
    return "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"


def record(script: str, header: str, row: str) -> None:
    """Append the command, the machine and a table row to bench/RESULTS.md."""
    command = f"python -m bench.{script} " + " ".join(arg for arg in sys.argv[1:] if arg != "--record")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(f"\n`{command.strip()}` on {machine}:\n\n{header}\n{row}\n")


def prefect_server_command(port: int) -> list[str]:
    """The Prefect server on ``port`` of 127.0.0.1 as the demo starts it (the Procfile's ``prefect``
    line, deployments/prefect_server.py); run it with this checkout on ``PYTHONPATH``."""
    return [sys.executable, "-m", "deployments.prefect_server", "--host", "127.0.0.1", "--port", str(port)]
