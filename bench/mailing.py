"""Benchmark: dispatch one mailing of N messages to the sandbox gateway, end to end.

Times ``dispatch_mailings`` from its start to the last status written (a real flow run, real HTTP to
the sandbox gateway in its own process, a real database), then counts at the gateway what arrived:
duplicates (an id accepted twice) and losses (a message never accepted). Rate limit off.
CPU per message: the CPU seconds of every dispatch process (this one, which runs the flow, and its
sender processes) over the messages; the sandbox and the database server are not counted.
``--hang-rate``: the share of sends the gateway never answers (each is timed out after the gateway
read timeout and tried again: an unknown outcome). ``--gateway plain``: our own bare aiohttp gateway
(`bench.plain_gateway`, same contract and latency, no faults) instead of the sandbox; ``--gateway
http.server``: the same on Python's own http.server (`bench.http_server`, a thread per connection).
The gateway's own CPU per request is measured too (it shares the machine's cores), but not counted
in the CPU per message.

    python -m bench.mailing [--messages 10000] [--latency-ms 50] [--database-url URL]
        [--senders N] [--hang-rate 0.02] [--gateway sandbox|plain|http.server] [--sandbox-port PORT]
        [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import (
    configure,
    database_name,
    free_port,
    own_server_args,
    peak_rss_mb,
    process_cpu_seconds,
    record,
    server_process,
)

HEADER = (
    "| date | messages | gateway latency | hanging | database | senders | gateway | dispatch start → last "
    "status | messages/s | CPU per message | gateway CPU per request | peak RSS | unknown outcomes "
    "| duplicates | lost | load (1 min) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--senders", type=int, default=0, help="sender processes (default: the setting)")
    parser.add_argument("--hang-rate", type=float, default=0.0, help="share of sends never answered")
    parser.add_argument(
        "--gateway",
        choices=["sandbox", "plain", "http.server"],
        default="sandbox",
        help="plain: bench.plain_gateway; http.server: bench.http_server",
    )
    parser.add_argument(
        "--sandbox-port", type=int, default=0, help="the gateway's port (default: a free one)"
    )
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def seed(clients: int, tag: str) -> int:
    """``clients`` clients with ``tag`` and one mailing to them, open now; returns the mailing id."""
    from sqlalchemy import func, insert, select

    from commands.mailing import create_mailing
    from db.base import utcnow
    from db.engine import session_factory
    from db.mailing import Client

    sessions = session_factory()
    with sessions.begin() as session:
        first = (session.scalar(select(func.max(Client.id))) or 0) + 1
        rows = [
            {"phone": f"79{n:09d}", "operator_code": f"9{n % 100:02d}", "tag": tag, "timezone": "UTC"}
            for n in range(first, first + clients)
        ]
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Client), rows[start : start + 10_000])
    now = utcnow()
    created = create_mailing(
        text="Switchyard benchmark", starts_at=now, ends_at=now + timedelta(hours=1), tag=tag
    )
    return created.id


def unsent(mailing_id: int) -> int:
    from sqlalchemy import func, select

    from db.engine import session_factory
    from db.mailing import Message, MessageStatus

    with session_factory().begin() as session:
        return session.scalar(
            select(func.count()).where(Message.mailing_id == mailing_id, Message.status != MessageStatus.SENT)
        )


def main() -> None:
    args = parse_args()
    configure(args.database_url, {"SWITCHYARD_MAILING__SENDERS": str(args.senders)} if args.senders else None)
    port = args.sandbox_port or free_port()
    if args.gateway != "sandbox":
        if args.hang_rate:
            raise SystemExit("--hang-rate needs the sandbox gateway")
        module = "bench.plain_gateway" if args.gateway == "plain" else "bench.http_server"
        command = own_server_args(module, port, args.latency_ms)
        env = dict(os.environ)
    else:
        command = ["-m", "sandbox"]
        env = os.environ | {
            "SWITCHYARD_SANDBOX__PORT": str(port),
            "SWITCHYARD_SANDBOX__LATENCY_MS": str(args.latency_ms),
            "SWITCHYARD_SANDBOX__GATEWAY_TIMEOUT_RATE": str(args.hang_rate),
        }
    with server_process(command, env, port) as (sandbox_url, gateway_pid):
        os.environ["SWITCHYARD_GATEWAY__BASE_URL"] = f"{sandbox_url}/gateway"
        from core.settings import get_settings
        from db.migrate import upgrade
        from deployments.warm_starts import prepare_run_process
        from flows.mailing import dispatch_mailings

        upgrade()
        asyncio.run(dispatch_mailings(seed(1, "warm-up")))  # Prefect API, imports, connections
        mailing_id = seed(args.messages, "bench")
        httpx.delete(f"{sandbox_url}/gateway/_sandbox/deliveries")
        prepare_run_process()  # as a warm flow-run process is before its run
        cpu_before = time.process_time()
        gateway_before = process_cpu_seconds(gateway_pid)
        started = time.perf_counter()
        totals = asyncio.run(dispatch_mailings(mailing_id))
        seconds = time.perf_counter() - started
        flow_cpu = time.process_time() - cpu_before
        gateway_cpu = process_cpu_seconds(gateway_pid) - gateway_before
        cpu = flow_cpu + totals.get("sender_cpu_ms", 0) / 1000
        deliveries = httpx.get(f"{sandbox_url}/gateway/_sandbox/deliveries").json()
        senders = get_settings().mailing.senders

    rate = args.messages / seconds
    lost = args.messages - deliveries["delivered"]
    duplicates = len(deliveries["duplicates"])
    unknown = totals.get("unknown", 0)
    cpu_ms = 1000 * cpu / args.messages
    gateway_ms = 1000 * gateway_cpu / max(1, deliveries["accepted"])
    peak_mb = peak_rss_mb()
    print(f"{args.messages} messages in {seconds:.2f} s = {rate:.0f} messages/s; peak RSS {peak_mb:.0f} MB")
    print(
        f"{senders} senders; CPU {cpu:.1f} s (flow process {flow_cpu:.1f} s) = {cpu_ms:.3f} ms per message; "
        f"unknown outcomes {unknown}"
    )
    print(f"{args.gateway} gateway process: CPU {gateway_cpu:.1f} s = {gateway_ms:.3f} ms per request")
    print(f"at the gateway: duplicates {duplicates}, lost {lost}; not marked sent: {unsent(mailing_id)}")
    database = database_name(args.database_url)
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {args.messages:,} | {args.latency_ms} ms | {args.hang_rate:.0%} "
        f"| {database} | {senders} | {args.gateway} | {seconds:.2f} s | {rate:.0f} | {cpu_ms:.2f} ms "
        f"| {gateway_ms:.2f} ms | {peak_mb:.0f} MB "
        f"| {unknown} | {duplicates} | {lost} | {os.getloadavg()[0]:.1f} |"
    )
    if args.record:
        record("mailing", HEADER, row)


if __name__ == "__main__":
    main()
