"""Benchmark: the service API under concurrent load, served by uvicorn in its own process.

Sets up a scratch database (migrated) with one mailing of N messages in a mix of statuses (bulk
inserts and updates, not API calls) and an API key (``commands.api_keys``), starts the real app
(``uvicorn api.app:create_app --factory``, access log off) and drives it from another process with
an aiohttp load generator on loopback. Scenarios:

- ``stats``: ``GET /mailings/{id}/stats`` (one mailing in detail) with the key;
- ``all-stats``: ``GET /mailings/stats`` (every mailing's counts);
- ``clients``: ``POST /clients`` with a unique phone number each.

Reports requests/s, latency p50/p95/p99/max, every non-2xx answer by status, the server's CPU (the
uvicorn process tree, from /proc) and its peak RSS. The key's rate limit is raised to 1,000,000 a
minute for the run (``SWITCHYARD_API__RATE_LIMIT_PER_MINUTE``); each request still goes through the
limiter, as in production. Goal: p99 <= 50 ms for ``stats`` at 100k messages.

    python -m bench.api [--messages 100000] [--workers 1] [--concurrency 32] [--seconds 20 | --requests N]
                        [--scenario stats --scenario clients ...] [--database-url URL] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import configure, database_name, free_port, record

SCENARIOS = ("stats", "all-stats", "clients")
RATE_LIMIT = "1000000"  # the settings' maximum: the benchmark measures the API, not the limit
HEADER = (
    "| date | scenario | database | messages | workers | concurrency | requests | requests/s "
    "| p50 | p95 | p99 | max | non-2xx | server CPU | server peak RSS | generator CPU | load avg |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    parser.add_argument("--seconds", type=float, default=20, help="length of each scenario's run")
    parser.add_argument("--requests", type=int, default=0, help="a fixed number of requests instead")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unmeasured load first")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help=f"repeatable; default all: {SCENARIOS}"
    )
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


# --- setup -------------------------------------------------------------------------------------


def setup(messages: int) -> tuple[int, str]:
    """Migrate, seed ``messages`` clients and one mailing to them in a mix of statuses, create a key.

    Returns the mailing's id and the key. The mix, by message id modulo 100: 78 % sent (over the last
    hour), 5 % failed (3 attempts), 2 % new after an error (retry deferred), 12 % new, 3 % sending.
    """
    from sqlalchemy import insert, update

    from commands.api_keys import create_key
    from commands.mailing import create_mailing
    from db.base import utcnow
    from db.engine import session_factory
    from db.mailing import Client, Message
    from db.migrate import upgrade

    upgrade()
    sessions = session_factory()
    with sessions.begin() as session:
        rows = [
            {"phone": f"79{n:09d}", "operator_code": f"9{n % 100:02d}", "tag": "bench", "timezone": "UTC"}
            for n in range(1, messages + 1)
        ]
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Client), rows[start : start + 10_000])
    now = utcnow()
    mailing_id = create_mailing(
        text="Switchyard API benchmark",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        tag="bench",
    ).id
    with sessions.begin() as session:
        ids = session.scalars(Message.__table__.select().with_only_columns(Message.id)).all()
        changes = [_status_of(message_id, now) for message_id in ids]
        for start in range(0, len(changes), 10_000):
            session.execute(update(Message), changes[start : start + 10_000])
    _, key = create_key(name="bench", scope="write")
    counts: dict[str, int] = {}
    for change in changes:
        counts[str(change["status"])] = counts.get(str(change["status"]), 0) + 1
    print(f"mailing {mailing_id}: {len(changes):,} messages, {dict(sorted(counts.items()))}")
    return mailing_id, key


def _status_of(message_id: int, now: datetime) -> dict[str, object]:
    from db.mailing import MessageStatus

    share = message_id % 100
    if share < 78:
        sent_at = now - timedelta(seconds=(message_id * 7919) % 3600)
        return {
            "id": message_id,
            "status": MessageStatus.SENT,
            "attempts": 1,
            "sent_at": sent_at,
            "gateway_answer": '{"code": 0, "message": "OK"}',
            "finished_at": sent_at,
        }
    if share < 83:
        return {
            "id": message_id,
            "status": MessageStatus.FAILURE,
            "attempts": 3,
            "finished_at": now,
            "last_error": "gateway answered 400",
            "gateway_answer": '{"code": 400}',
        }
    if share < 85:
        return {
            "id": message_id,
            "status": MessageStatus.NEW,
            "attempts": 1,
            "last_error": "gateway timed out",
            "next_attempt_at": now + timedelta(minutes=5),
        }
    if share < 97:
        return {"id": message_id, "status": MessageStatus.NEW}
    return {
        "id": message_id,
        "status": MessageStatus.SENDING,
        "attempts": 1,
        "started_at": now,
        "claimed_until": now + timedelta(minutes=1),
        "claimed_by": "bench",
    }


# --- server ------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def tree(self) -> list[int]:
        """The uvicorn process and its descendants (the workers, their multiprocessing helpers)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def cpu_seconds(self) -> float:
        """CPU (user + system) used so far by the live processes of the tree."""
        total = 0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLK_TCK

    def peak_rss_mb(self) -> float:
        """The sum of the tree's peak resident sizes (VmHWM)."""
        total = 0
        for pid in self.tree():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024


def start_server(workers: int) -> Server:
    """uvicorn serving the app in its own process group, ready (``/readyz`` answers 200)."""
    port = free_port()
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # /readyz then checks the database only; no run is started here
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                print(f"uvicorn ready: pid {process.pid}, {server.url}, {workers} worker(s)", flush=True)
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise SystemExit("uvicorn did not become ready")
        time.sleep(0.3)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


# --- load --------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the measured requests, in seconds
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # requests with no answer, by exception
    cpu_seconds: float = 0.0  # of the generator process


@dataclass(frozen=True)
class LoadPlan:
    url: str
    key: str
    scenario: str
    mailing_id: int
    concurrency: int
    seconds: float
    requests: int
    phone_base: int


def run_load(plan: LoadPlan) -> LoadResult:
    """Run in a process of its own (so the generator never shares the measured figures' CPU)."""
    import aiohttp  # imported here: only the generator process needs it

    async def drive() -> LoadResult:
        headers = {"Authorization": f"Bearer {plan.key}"}
        counter = iter(range(plan.phone_base, plan.phone_base + 9 * 10**6))
        connector = aiohttp.TCPConnector(limit=plan.concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:

            async def one(result: LoadResult | None) -> None:
                if plan.scenario == "clients":
                    body = {"phone": f"79{next(counter):09d}", "tag": "bench-api"}
                    request = session.post(f"{plan.url}/clients", json=body)
                elif plan.scenario == "stats":
                    request = session.get(f"{plan.url}/mailings/{plan.mailing_id}/stats")
                else:
                    request = session.get(f"{plan.url}/mailings/stats")
                started = time.perf_counter()
                try:
                    async with request as answer:
                        await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if result is not None:
                        name = type(exc).__name__
                        result.errors[name] = result.errors.get(name, 0) + 1
                    return
                if result is not None:
                    result.latencies.append(time.perf_counter() - started)
                    result.statuses[status] = result.statuses.get(status, 0) + 1

            async def phase(result: LoadResult | None, seconds: float, requests: int) -> None:
                deadline = time.perf_counter() + seconds
                left = iter(range(requests)) if requests else None

                async def user() -> None:
                    while (next(left, None) is not None) if left else time.perf_counter() < deadline:
                        await one(result)

                await asyncio.gather(*(user() for _ in range(plan.concurrency)))

            result = LoadResult(seconds=0)
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            await phase(result, plan.seconds, plan.requests)
            result.seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            result.cpu_seconds = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
            return result

    return asyncio.run(drive())


def load_in_process(plan: LoadPlan) -> LoadResult:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_load, (plan,))


# --- report ------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def report(
    args: argparse.Namespace,
    scenario: str,
    result: LoadResult,
    server_cpu: float,
    server_rss: float,
    load_average: str,
) -> str:
    """Print the figures of one scenario; returns its RESULTS.md table row."""
    latencies = sorted(result.latencies)
    done = len(latencies)
    rate = done / result.seconds if result.seconds else 0.0
    ms = {
        name: percentile(latencies, share) * 1000
        for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
    worst = (latencies[-1] * 1000) if latencies else float("nan")
    bad = {status: count for status, count in sorted(result.statuses.items()) if not 200 <= status < 300}
    bad_text = ", ".join(f"{status}: {count}" for status, count in bad.items()) or "0"
    if result.errors:
        bad_text += "; no answer: " + ", ".join(f"{name}: {count}" for name, count in result.errors.items())
    print(
        f"{scenario}: {done:,} requests in {result.seconds:.1f} s = {rate:.0f}/s; "
        f"p50 {ms['p50']:.1f} ms, p95 {ms['p95']:.1f} ms, p99 {ms['p99']:.1f} ms, max {worst:.1f} ms; "
        f"non-2xx {bad_text}; server CPU {server_cpu:.1f} s ({server_cpu / result.seconds:.2f} cores), "
        f"peak RSS {server_rss:.0f} MB; generator CPU {result.cpu_seconds:.1f} s; load {load_average}"
    )
    cells = [
        f"{datetime.now(UTC):%Y-%m-%d}",
        scenario,
        database_name(args.database_url),
        f"{args.messages:,}",
        str(args.workers),
        str(args.concurrency),
        f"{done:,}",
        f"{rate:.0f}",
        *(f"{value:.1f} ms" for value in (ms["p50"], ms["p95"], ms["p99"], worst)),
        bad_text,
        f"{server_cpu:.1f} s ({server_cpu / result.seconds:.2f} cores)",
        f"{server_rss:.0f} MB",
        f"{result.cpu_seconds:.1f} s",
        load_average,
    ]
    return "| " + " | ".join(cells) + " |"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    args = parse_args()
    configure(args.database_url, {"SWITCHYARD_API__RATE_LIMIT_PER_MINUTE": RATE_LIMIT})
    mailing_id, key = setup(args.messages)
    server = start_server(args.workers)
    rows = []
    try:
        for number, scenario in enumerate(args.scenario or SCENARIOS):
            plan = LoadPlan(
                url=server.url,
                key=key,
                scenario=scenario,
                mailing_id=mailing_id,
                concurrency=args.concurrency,
                seconds=args.seconds,
                requests=args.requests,
                phone_base=500_000_000 + number * 10**7,  # 795…, 796…: mobile numbers the seed never used
            )
            warm_up = replace(plan, seconds=args.warmup, requests=0, phone_base=plan.phone_base + 9 * 10**6)
            load_in_process(warm_up)  # connections, imports and caches in every worker; not counted
            before = load_average()
            cpu = server.cpu_seconds()
            result = load_in_process(plan)
            server_cpu = server.cpu_seconds() - cpu
            load = f"{before} → {load_average()}"
            rows.append(report(args, scenario, result, server_cpu, server.peak_rss_mb(), load))
    finally:
        stop_server(server)
    if args.record:
        record("api", HEADER, "\n".join(rows))


if __name__ == "__main__":
    main()
