"""Benchmark: channels against the sandbox's microblog, end to end.

``repost`` (issue 9, part b): ``--channels`` channels (the sandbox's virtual ``channel1``…), each
connected through the OAuth flow, reposting on, with one rule (``--languages``, default English
posts, no replies, no reposts of reposts). A first ``poll_and_repost`` run with no rules yet sets each
channel's watermark (not timed); then ``--posts`` new posts are put at the top of every channel's
home timeline (by control, authors in turn, every language), the sandbox's counters are zeroed, and
the real ``poll_and_repost`` flow run is timed: ``channels.polls_at_once`` channels polled side by
side, each reading its timeline since the watermark (pages of 100), judging every post, writing the
judgements, and reposting what passes, one repost at a time per channel, within the platform's
limits (50 reposts per 15 minutes per channel: what passes beyond them stays pending). Posts
filtered per second: timeline posts judged over the flow run's wall time. Reposts made, duplicates
and reposts received more than once are counted at the sandbox (``/microblog/_counters``).

    python -m bench.channels repost [--channels 100] [--posts 200] [--latency-ms 100]
        [--polls-at-once 50] [--languages en] [--database-url URL] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import configure, database_name, peak_rss_mb, record, sandbox_process

CALLBACK = "http://127.0.0.1:9/callback"
REPOST_HEADER = (
    "| date | channels | new posts each | latency | polls at once | database | flow run | posts judged "
    "| posts filtered/s | passed | reposts made | left pending (limit) | duplicates | CPU (this process) "
    "| peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=sorted(BENCHES))
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--posts", type=int, default=200, help="repost: new timeline posts per channel")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--polls-at-once", type=int, default=50, help="repost: channels.polls_at_once")
    parser.add_argument("--languages", default="en", help="repost: the rule's languages, comma-separated")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _connect_one(name: str) -> int:
    """One channel connected as a person would: the OAuth flow with PKCE, then stored."""
    from connectors.microblog import microblog_client, oauth
    from core.settings import get_settings
    from db.channels import channels as channels_db
    from db.engine import session_factory

    settings = get_settings().microblog
    url, state, verifier = oauth.authorize_url(settings, CALLBACK, login_hint=name)
    async with httpx.AsyncClient() as client:
        answer = await client.get(url)
    tokens = await oauth.exchange_code(
        settings, oauth.code_of(answer.headers["location"], state), verifier, CALLBACK
    )
    async with microblog_client(settings, tokens.access_token) as microblog:
        user = await microblog.me()

    def store() -> int:
        with session_factory().begin() as session:
            channel = channels_db.connect_channel(
                session,
                owner="bench",
                screen_name=user.username,
                platform_user_id=user.id,
                timezone="UTC",
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                expires_at=tokens.expires_at,
            )
            channel.reposting_on = True
            return channel.id

    return await asyncio.to_thread(store)


def connect_channels(count: int) -> list[str]:
    """``channel1`` … ``channel{count}`` connected, reposting on; their screen names."""
    names = [f"channel{n}" for n in range(1, count + 1)]

    async def all_of_them() -> None:
        slots = asyncio.Semaphore(20)

        async def one(name: str) -> None:
            async with slots:
                await _connect_one(name)

        await asyncio.gather(*(one(name) for name in names))

    asyncio.run(all_of_them())
    return names


def _totals(counters: dict[str, Any]) -> dict[str, int]:
    totals = {"received": 0, "applied": 0, "duplicates": 0, "limited": 0}
    for actions in counters["users"].values():
        for name in totals:
            totals[name] += actions.get("reposts", {}).get(name, 0)
    return totals


def _passed() -> int:
    """Judgements that let a post through (reposted or still pending)."""
    from sqlalchemy import func, select

    from db.channels.models import RepostRecord, RepostStatus
    from db.engine import session_factory

    with session_factory().begin() as session:
        return session.scalar(
            select(func.count())
            .select_from(RepostRecord)
            .where(RepostRecord.status.in_([RepostStatus.REPOSTED, RepostStatus.PENDING]))
        )


def bench_repost(args: argparse.Namespace, sandbox_url: str) -> str:
    from commands.channels import add_repost_rule
    from flows.channels import poll_and_repost

    base = f"{sandbox_url}/microblog"
    asyncio.run(poll_and_repost())  # warm-up (no channel yet): Prefect's API, imports
    names = connect_channels(args.channels)
    first = asyncio.run(poll_and_repost())  # no rules yet: every watermark set, nothing reposted
    print(f"{len(names)} channels connected; first poll (watermarks): {first}")
    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    for name in names:
        add_repost_rule(name, name="bench", fields={"languages": languages})
    with httpx.Client(timeout=60) as client:
        for name in names:
            client.post(
                f"{base}/_control/users/{name}/timeline", json={"count": args.posts}
            ).raise_for_status()
        client.delete(f"{base}/_counters").raise_for_status()
    cpu = cpu_seconds()
    started = time.perf_counter()
    totals = asyncio.run(poll_and_repost())
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    counters = httpx.get(f"{base}/_counters").json()
    sandbox = _totals(counters)
    again = len(counters["reposts_received_again"])
    passed = _passed()
    rate = totals["read"] / seconds
    peak_mb = peak_rss_mb()
    print(f"flow result {totals}; sandbox reposts {sandbox}; received more than once: {again}")
    print(
        f"{totals['read']:,} posts judged in {seconds:.2f} s = {rate:,.0f} posts filtered/s; "
        f"{passed:,} passed, {sandbox['applied']:,} reposted, {passed - sandbox['applied']:,} left pending; "
        f"CPU {cpu:.1f} s; peak RSS {peak_mb:.0f} MB"
    )
    duplicates = sandbox["duplicates"] + again
    if duplicates or sandbox["applied"] != totals["reposted"]:
        print("MISMATCH: duplicates at the sandbox, or reposts applied differ from those recorded")
    return (
        f"| {datetime.now(UTC):%Y-%m-%d} | {len(names)} | {args.posts} | {args.latency_ms} ms "
        f"| {args.polls_at_once} | {database_name(args.database_url)} | {seconds:.2f} s | {totals['read']:,} "
        f"| {rate:,.0f} | {passed:,} | {sandbox['applied']:,} | {passed - sandbox['applied']:,} "
        f"| {duplicates} | {cpu:.1f} s | {peak_mb:.0f} MB |"
    )


# each measurement: (its function, its table's header)
BENCHES: dict[str, tuple[Callable[[argparse.Namespace, str], str], str]] = {
    "repost": (bench_repost, REPOST_HEADER),
}


def main() -> None:
    args = parse_args()
    configure(
        args.database_url,
        {
            "SWITCHYARD_CHANNELS__POLLS_AT_ONCE": str(args.polls_at_once),
            "SWITCHYARD_CHANNELS__POSTS_PER_POLL": str(max(args.posts, 1)),
        },
    )
    sandbox = {"SWITCHYARD_SANDBOX__MICROBLOG_LATENCY_MS": str(args.latency_ms)}
    with sandbox_process(sandbox) as sandbox_url:
        os.environ["SWITCHYARD_MICROBLOG__BASE_URL"] = f"{sandbox_url}/microblog"
        from db.migrate import upgrade

        upgrade()
        run, header = BENCHES[args.what]
        row = run(args, sandbox_url)
    if args.record:
        record("channels", header, row)


if __name__ == "__main__":
    main()
