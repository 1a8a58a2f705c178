"""Benchmark: growth automation against the sandbox's photo network, end to end.

Three measurements, each against the sandbox in its own process (network latency as given), into a
scratch database (a fresh SQLite file, or a fresh schema of ``--database-url``):

``sync``: the real ``sync_accounts`` flow run (``growth.syncs_at_once`` syncs side by side, each
``tasks.growth_sync.sync`` of one account: its profile, then its followers and followings page by
page) over ``--accounts`` connected accounts. One account is ``big_brand`` (100,000 followers, 150
followings); more are virtual users of the sandbox's graph with at least ``--min-followers``
followers, the first ones by pk (the graph is computed here from the sandbox's seed). Followers/s is
followers stored over the flow run's wall time (followings are stored too and reported). Peak RSS is
this process's (the Prefect client included): ``sync --accounts 10`` of 100,000 followers each is the
1M-edge memory figure.

``actions``: ``--accounts`` accounts (virtual users), quotas off (``growth.enforce_quotas=false``)
and pacing off, each given one follow job of ``--follows`` followers of ``big_brand``, planned first
(not timed: the accounts are synced first by a ``sync_accounts`` run, as in the product, so planning
leaves out whom they follow already; then ``claim_for_planning``/``plan`` in ``growth.jobs_at_once``
lanes), then the real
``run_follows`` flow run timed: ``growth.jobs_at_once`` lanes, a batch of ``follow_batch`` follows
per task run, ``growth.action_concurrency`` in flight per batch. Counts at the sandbox
(``/network/_counters``): follows received, applied and duplicates. CPU per action: this process's
(resource.getrusage) and the sandbox process's (/proc), over the timed run.

    python -m bench.growth sync [--accounts 1] [--min-followers 100000] [--latency-ms 100]
        [--database-url URL] [--record]
    python -m bench.growth actions [--accounts 50] [--follows 200] [--batch 100] [--concurrency 20]
        [--lanes 50] [--latency-ms 100] [--database-url URL] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.common import configure, database_name, peak_rss_mb, record, sandbox_process

PASSWORD = "sandbox-password"
UNPACED = {"min_delay": 0, "max_delay": 0}
LOOSE = {"skip": {"max_ratio": None, "max_followers": None, "skip_no_posts": False, "skip_private": False}}
SEED = 42  # the sandbox's default seed
T = TypeVar("T")

SYNC_HEADER = (
    "| date | accounts | followers (+ followings) | latency | syncs at once | database | flow run "
    "| followers/s | slowest account | peak RSS | CPU (this process) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)
ACTIONS_HEADER = (
    "| date | accounts | follows | latency | lanes | batch | in flight per batch | database "
    "| planning | flow run | follows/s | applied | duplicates | CPU/follow (this process) "
    "| CPU/follow (sandbox) | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("sync", "actions"))
    parser.add_argument("--accounts", type=int, default=None, help="default: 1 (sync), 50 (actions)")
    parser.add_argument("--min-followers", type=int, default=100_000, help="sync: virtual accounts' least")
    parser.add_argument("--syncs-at-once", type=int, default=20)
    parser.add_argument("--follows", type=int, default=200, help="actions: follows per account")
    parser.add_argument("--batch", type=int, default=100, help="actions: follows per batch (task run)")
    parser.add_argument("--concurrency", type=int, default=20, help="actions: in flight per batch")
    parser.add_argument("--lanes", type=int, default=50, help="actions: growth.jobs_at_once")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--profile", default="", help="write a cProfile of the timed part to this file")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def virtual_accounts(count: int, min_followers: int, max_followers: int = 100_000) -> list[str]:
    """The first ``count`` public virtual users (by pk) with ``min_followers``..``max_followers``."""
    from sandbox.network.graph import FIRST_VIRTUAL, graph

    g, found, pk = graph(SEED), [], FIRST_VIRTUAL
    while len(found) < count:
        user = g.user(pk)
        if min_followers <= user.followers <= max_followers and not user.is_private:
            found.append(user.username)
        pk += 1
    return found


def add_accounts(usernames: list[str]) -> list[int]:
    from commands.growth import add_account

    return [
        add_account(
            owner="bench", username=name, password=PASSWORD, settings=UNPACED | LOOSE, follows_on=True
        ).id
        for name in usernames
    ]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sandbox_cpu_seconds() -> float:
    """CPU time so far of this process's sandbox child (``python -m sandbox``), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = stat.with_name("cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"sandbox" in cmdline:
            return (int(fields[11]) + int(fields[12])) / ticks
    return float("nan")


def timed(profile: str, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(run())``, under cProfile when ``profile`` names a file."""
    if not profile:
        return asyncio.run(run())
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return asyncio.run(run())
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def bench_sync(args: argparse.Namespace, sandbox_url: str) -> str:
    from flows.growth import sync_accounts
    from sandbox.network import CATALOG

    accounts = args.accounts or 1
    names = ["big_brand", *virtual_accounts(accounts - 1, args.min_followers)]
    from sandbox.network.graph import graph

    g = graph(SEED)
    followers = sum(CATALOG[n].followers if n in CATALOG else g.user(int(n[4:])).followers for n in names)
    followings = sum(CATALOG[n].followings if n in CATALOG else g.user(int(n[4:])).followings for n in names)
    print(f"accounts: {', '.join(names)}: {followers:,} followers, {followings:,} followings")
    asyncio.run(sync_accounts())  # warm-up (no account yet): Prefect's API, imports
    add_accounts(names)
    cpu = cpu_seconds()
    started = time.perf_counter()
    result = timed(args.profile, sync_accounts)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    stored = stored_edges()
    slowest = slowest_sync()
    rate = stored["follower"] / seconds
    peak_mb = peak_rss_mb()
    print(f"flow result {result}; stored {stored}")
    print(
        f"{stored['follower']:,} followers in {seconds:.2f} s = {rate:,.0f} followers/s "
        f"(slowest account {slowest:.2f} s); CPU {cpu:.1f} s; peak RSS {peak_mb:.0f} MB"
    )
    if result["failed"] or stored["follower"] != followers or stored["following"] != followings:
        print("MISMATCH: a sync failed or stored edges differ from the graph's counts")
    return (
        f"| {datetime.now(UTC):%Y-%m-%d} | {accounts} | {stored['follower']:,} (+ {stored['following']:,}) "
        f"| {args.latency_ms} ms | {args.syncs_at_once} | {database_name(args.database_url)} "
        f"| {seconds:.2f} s | {rate:,.0f} | {slowest:.2f} s | {peak_mb:.0f} MB | {cpu:.1f} s |"
    )


def stored_edges() -> dict[str, int]:
    from sqlalchemy import func, select

    from db.engine import session_factory
    from db.growth.models import Edge

    with session_factory().begin() as session:
        rows = session.execute(
            select(Edge.kind, func.count()).where(Edge.removed_at.is_(None)).group_by(Edge.kind)
        )
        return {"follower": 0, "following": 0} | dict(rows.tuples().all())


def slowest_sync() -> float:
    """Seconds from the first account's sync start to the last one's end, per the accounts' rows."""
    from sqlalchemy import func, select

    from db.engine import session_factory
    from db.growth.models import Account, AccountDetails

    with session_factory().begin() as session:
        first = session.scalar(select(func.min(AccountDetails.fetched_at)))
        last = session.scalar(select(func.max(Account.last_synced_at)))
    return (last - first).total_seconds()


def plan_all(lanes: int) -> tuple[int, int]:
    """Plan every follow job in ``lanes`` lanes (as flows.growth._plan does); (candidates, skipped)."""
    from rules.growth import JobKind
    from tasks.growth_planning import claim_for_planning, plan

    async def run() -> list:
        async def lane() -> list:
            results = []
            while (claimed := await asyncio.to_thread(claim_for_planning, JobKind.FOLLOW)) is not None:
                results.append(await plan(*claimed))
            return results

        return [r for rs in await asyncio.gather(*(lane() for _ in range(lanes))) for r in rs]

    results = asyncio.run(run())
    errors = [r.error for r in results if r.error]
    if errors:
        print(f"planning errors: {errors[:3]}")
    return sum(r.candidates for r in results), sum(r.skipped for r in results)


def bench_actions(args: argparse.Namespace, sandbox_url: str) -> str:
    from commands.growth import change_logic, create_follow_job
    from flows.growth import run_follows, sync_accounts

    accounts = args.accounts or 50
    names = virtual_accounts(accounts, 0, 2_000)
    asyncio.run(run_follows())  # warm-up (no job yet): Prefect's API, imports
    add_accounts(names)
    began = time.perf_counter()
    synced = asyncio.run(sync_accounts())  # as in the product: planning skips whom they follow already
    print(f"synced first: {synced} in {time.perf_counter() - began:.1f} s")
    change_logic(follow_batch=args.batch, candidates_per_job=max(100, args.follows))
    for name in names:
        create_follow_job(name, source="account", target="big_brand", count=args.follows)
    began = time.perf_counter()
    candidates, skipped = plan_all(args.lanes)
    planning = time.perf_counter() - began
    print(f"planned {candidates:,} candidates ({skipped} skipped) in {planning:.1f} s")
    base = f"{sandbox_url}/network"
    httpx.delete(f"{base}/_counters").raise_for_status()
    cpu, sandbox_cpu = cpu_seconds(), sandbox_cpu_seconds()
    started = time.perf_counter()
    result = timed(args.profile, run_follows)
    seconds = time.perf_counter() - started
    cpu, sandbox_cpu = cpu_seconds() - cpu, sandbox_cpu_seconds() - sandbox_cpu
    totals = httpx.get(f"{base}/_counters").json()
    follows = [counts["follow"] for counts in totals["accounts"].values() if "follow" in counts]
    received = sum(c["received"] for c in follows)
    applied = sum(c["applied"] for c in follows)
    duplicates = sum(c["duplicates"] for c in follows)
    done = result["done"]
    rate = done / seconds
    peak_mb = peak_rss_mb()
    print(f"flow result {result}")
    print(
        f"{done:,} follows in {seconds:.2f} s = {rate:,.0f} follows/s; "
        f"at the sandbox: received {received:,}, applied {applied:,}, "
        f"duplicates {duplicates} ({len(totals['duplicates'])} targets)"
    )
    for duplicate in totals["duplicates"][:5]:
        print(f"duplicate: {duplicate}")
    per_follow = 1000 * cpu / max(1, done)
    per_follow_sandbox = 1000 * sandbox_cpu / max(1, received)
    print(
        f"CPU: this process {cpu:.1f} s ({per_follow:.2f} ms/follow), sandbox {sandbox_cpu:.1f} s "
        f"({per_follow_sandbox:.2f} ms/follow); peak RSS {peak_mb:.0f} MB"
    )
    return (
        f"| {datetime.now(UTC):%Y-%m-%d} | {accounts} | {done:,} of {candidates:,} | {args.latency_ms} ms "
        f"| {args.lanes} | {args.batch} | {args.concurrency} | {database_name(args.database_url)} "
        f"| {planning:.1f} s | {seconds:.2f} s | {rate:,.0f} | {applied:,} | {duplicates} "
        f"| {per_follow:.2f} ms | {per_follow_sandbox:.2f} ms | {peak_mb:.0f} MB |"
    )


def main() -> None:
    args = parse_args()
    configure(
        args.database_url,
        {
            "SWITCHYARD_GROWTH__ENFORCE_QUOTAS": "false",
            "SWITCHYARD_GROWTH__SYNCS_AT_ONCE": str(args.syncs_at_once),
            "SWITCHYARD_GROWTH__JOBS_AT_ONCE": str(args.lanes),
            "SWITCHYARD_GROWTH__ACTION_CONCURRENCY": str(args.concurrency),
            "SWITCHYARD_NETWORK__PAGE_SIZE": "200",
        },
    )
    sandbox = {"SWITCHYARD_SANDBOX__NETWORK_LATENCY_MS": str(args.latency_ms)}
    with sandbox_process(sandbox) as sandbox_url:
        os.environ["SWITCHYARD_NETWORK__BASE_URL"] = f"{sandbox_url}/network"
        from db.migrate import upgrade

        upgrade()
        if args.what == "sync":
            row, header = bench_sync(args, sandbox_url), SYNC_HEADER
        else:
            row, header = bench_actions(args, sandbox_url), ACTIONS_HEADER
    if args.record:
        record("growth", header, row)


if __name__ == "__main__":
    main()
