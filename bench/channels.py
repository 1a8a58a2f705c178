"""Benchmark: channels against the sandbox's microblog, end to end.

Against the sandbox in its own process (each answer after ``--latency-ms``, its limits the
platform's defaults: 100 posts per 15 min and 300 posts + reposts per 3 h per user), into a scratch
database (a fresh SQLite file, or a fresh schema of ``--database-url``):

``publish`` (part a): ``--channels`` channels (the sandbox's virtual users ``channel1``…, each connected
through the OAuth 2.0 authorization-code flow with PKCE, as a person would), ``--posts-per-channel`` posts
each, all due in the same minute: at ``--lead-seconds`` after a schedule tick, spread evenly over
``--spread-seconds`` (0: all at the same second, as posts put in the same slot of many channels are).
At the tick the real ``publish_due_posts`` flow run is started, as the every-minute schedule starts
it (it claims the posts due within the next minute and publishes each at its due time); while posts
are still queued after a run (put back), another run is started at the next tick, up to
``--ticks``. A post's delay is the time from its due time to when the sandbox applied it (the
``created_at`` the sandbox gave it, millisecond precision, on this machine's clock) — the figure the
goal is about (p95 ≤ 5 s) — and, for comparison, to when its row was recorded ``published``. Counts
at the sandbox (``/microblog/_counters``): posts received, applied, duplicate-content answers
(0 expected: a post is sent once) and 429s. CPU: this process's (flow and its tasks; Prefect's
temporary API server too when it runs in-process) and the sandbox process's, from the tick to the
end of the last run.

    python -m bench.channels publish [--channels 100] [--posts-per-channel 10] [--lead-seconds 30]
        [--spread-seconds 0] [--ticks 3] [--latency-ms 100] [--database-url URL] [--record]

``repost`` (part b): ``--channels`` channels (the sandbox's virtual ``channel1``…), each
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
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.common import configure, database_name, peak_rss_mb, record, sandbox_process

CALLBACK = "http://127.0.0.1:9/callback"
OWNER = "bench"

PUBLISH_HEADER = (
    "| date | channels | posts | due | latency | database | flow runs | published | at the sandbox: "
    "applied / duplicates / 429 | delay applied p50 / p95 / max | delay recorded p50 / p95 / max "
    "| CPU (this process) | CPU (sandbox) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)

REPOST_HEADER = (
    "| date | channels | new posts each | latency | polls at once | database | flow run | posts judged "
    "| posts filtered/s | passed | reposts made | left pending (limit) | duplicates | CPU (this process) "
    "| peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


@dataclass(frozen=True)
class Connected:
    channel_id: int
    username: str
    user_id: str
    access_token: str


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil
    return ordered[int(rank) - 1]


def spread(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, q):.2f}" for q in (0.5, 0.95, 1.0)) + " s"


def cpu_now() -> tuple[float, float]:
    """(this process's CPU seconds, the sandbox child's) so far."""
    from bench.growth import cpu_seconds, sandbox_cpu_seconds

    return cpu_seconds(), sandbox_cpu_seconds()


async def connect_channels(
    usernames: list[str], at_once: int = 20, *, reposting: bool = False
) -> list[Connected]:
    """Connect each user as a channel: authorize (PKCE), exchange the code, read ``me``, store it
    (``reposting``: with reposting on)."""
    from connectors.microblog import microblog_client, oauth
    from core.settings import get_settings
    from db.channels import channels
    from db.engine import session_factory

    settings = get_settings().microblog
    gate = asyncio.Semaphore(at_once)

    async def one(name: str) -> Connected:
        async with gate:
            url, state, verifier = oauth.authorize_url(settings, CALLBACK, login_hint=name)
            async with httpx.AsyncClient() as client:
                answer = await client.get(url)
            tokens = await oauth.exchange_code(
                settings, oauth.code_of(answer.headers["location"], state), verifier, CALLBACK
            )
            async with microblog_client(settings, tokens.access_token) as client:
                user = await client.me()

        def store() -> int:
            with session_factory().begin() as session:
                channel = channels.connect_channel(
                    session,
                    owner=OWNER,
                    screen_name=user.username,
                    platform_user_id=user.id,
                    timezone="UTC",
                    access_token=tokens.access_token,
                    refresh_token=tokens.refresh_token,
                    expires_at=tokens.expires_at,
                )
                channel.reposting_on = reposting
                return channel.id

        return Connected(await asyncio.to_thread(store), user.username, user.id, tokens.access_token)

    return list(await asyncio.gather(*(one(name) for name in usernames)))


def schedule_posts(connected: list[Connected], per_channel: int, first_due: datetime, spread_s: float) -> int:
    """``per_channel`` posts for each channel, due from ``first_due`` evenly over ``spread_s``."""
    from db.channels import posts
    from db.engine import session_factory

    total = len(connected) * per_channel
    with session_factory().begin() as session:
        for n in range(total):
            channel = connected[n % len(connected)]
            due = first_due + timedelta(seconds=spread_s * n / total)
            text = f"Bench post {n // len(connected) + 1} of {channel.username} at {first_due:%H:%M:%S}"
            posts.schedule_post(session, channel_id=channel.channel_id, text=text, due_at=due)
    return total


async def applied_at(sandbox_url: str, connected: list[Connected]) -> dict[tuple[str, str], datetime]:
    """(user id, text) → when the sandbox applied that post, read from each channel's own posts."""
    found: dict[tuple[str, str], datetime] = {}
    base = f"{sandbox_url}/microblog/2/users"
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(channel: Connected) -> None:
            params: dict[str, Any] = {"max_results": 100, "tweet.fields": "created_at"}
            headers = {"Authorization": f"Bearer {channel.access_token}"}
            while True:
                page = await client.get(f"{base}/{channel.user_id}/tweets", params=params, headers=headers)
                page.raise_for_status()
                body = page.json()
                for post in body.get("data", []):
                    when = datetime.fromisoformat(post["created_at"].replace("Z", "+00:00"))
                    found[(channel.user_id, post["text"])] = when
                if not (token := body.get("meta", {}).get("next_token")):
                    return
                params["pagination_token"] = token

        await asyncio.gather(*(one(channel) for channel in connected))
    return found


def post_rows() -> list[Any]:
    from sqlalchemy import select

    from db.channels.models import Channel, ScheduledPost
    from db.engine import session_factory

    with session_factory().begin() as session:
        return session.execute(
            select(
                Channel.platform_user_id,
                ScheduledPost.text,
                ScheduledPost.status,
                ScheduledPost.due_at,
                ScheduledPost.published_at,
            ).join(Channel, Channel.id == ScheduledPost.channel_id)
        ).all()


def open_posts() -> int:
    from rules.channels import PostState

    return sum(row.status in (PostState.QUEUED, PostState.PUBLISHING) for row in post_rows())


def sleep_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


def bench_publish(args: argparse.Namespace, sandbox_url: str) -> str:
    from flows.channels import publish_due_posts
    from rules.channels import PostState

    asyncio.run(publish_due_posts())  # warm-up (nothing due): Prefect's API, imports
    began = time.perf_counter()
    names = [f"channel{n}" for n in range(1, args.channels + 1)]
    connected = asyncio.run(connect_channels(names))
    print(f"connected {len(connected)} channels in {time.perf_counter() - began:.1f} s")
    tick = datetime.now(UTC) + timedelta(seconds=5)
    first_due = tick + timedelta(seconds=args.lead_seconds)
    total = schedule_posts(connected, args.posts_per_channel, first_due, args.spread_seconds)
    print(f"scheduled {total} posts due from {first_due:%H:%M:%S} over {args.spread_seconds:g} s")
    httpx.delete(f"{sandbox_url}/microblog/_counters").raise_for_status()
    sleep_until(tick)
    cpu, sandbox_cpu = cpu_now()
    runs, results = 0, []
    while runs < args.ticks:
        runs += 1
        started = time.perf_counter()
        result = asyncio.run(publish_due_posts())
        print(f"run {runs} (tick {tick:%H:%M:%S}): {result} in {time.perf_counter() - started:.2f} s")
        results.append(result)
        if not open_posts():
            break
        tick += timedelta(seconds=60)  # the schedule's next tick
        sleep_until(tick)
    cpu_used, sandbox_used = (
        after - before for after, before in zip(cpu_now(), (cpu, sandbox_cpu), strict=True)
    )
    totals = httpx.get(f"{sandbox_url}/microblog/_counters").json()["users"]
    posts_counted = [counts["posts"] for counts in totals.values() if "posts" in counts]
    received, applied, duplicates, limited = (
        sum(c[key] for c in posts_counted) for key in ("received", "applied", "duplicates", "limited")
    )
    made = asyncio.run(applied_at(sandbox_url, connected))
    rows = post_rows()
    published = [row for row in rows if row.status is PostState.PUBLISHED]
    applied_delays = [
        (made[(row.platform_user_id, row.text)] - row.due_at).total_seconds()
        for row in rows
        if (row.platform_user_id, row.text) in made
    ]
    recorded_delays = [(row.published_at - row.due_at).total_seconds() for row in published]
    states: dict[str, int] = {}
    for row in rows:
        states[str(row.status)] = states.get(str(row.status), 0) + 1
    print(f"posts by state: {states}")
    print(
        f"at the sandbox: received {received}, applied {applied}, duplicates {duplicates}, 429 {limited}; "
        f"{len(applied_delays)} of {total} found among the channels' own posts"
    )
    print(f"delay due → applied at the sandbox p50 / p95 / max: {spread(applied_delays)}")
    print(f"delay due → recorded published    p50 / p95 / max: {spread(recorded_delays)}")
    print(f"CPU: this process {cpu_used:.1f} s, sandbox {sandbox_used:.1f} s")
    goal = percentile(applied_delays, 0.95) <= 5.0 and len(published) == total and duplicates == 0
    print("goal (p95 ≤ 5 s, every post published once):", "met" if goal else "MISSED")
    due = "same second" if not args.spread_seconds else f"over {args.spread_seconds:g} s"
    return (
        f"| {datetime.now(UTC):%Y-%m-%d} | {len(connected)} | {total} | {due}, {args.lead_seconds:g} s "
        f"after the tick | {args.latency_ms} ms | {database_name(args.database_url)} | {runs} "
        f"| {len(published)} | {applied} / {duplicates} / {limited} | {spread(applied_delays)} "
        f"| {spread(recorded_delays)} | {cpu_used:.1f} s | {sandbox_used:.1f} s |"
    )


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
    names = [
        c.username
        for c in asyncio.run(
            connect_channels([f"channel{n}" for n in range(1, args.channels + 1)], reposting=True)
        )
    ]
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
    cpu, _ = cpu_now()
    started = time.perf_counter()
    totals = asyncio.run(poll_and_repost())
    seconds = time.perf_counter() - started
    cpu = cpu_now()[0] - cpu
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


def add_repost_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("repost", help="new timeline posts of many channels judged and reposted")
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--posts", type=int, default=200, help="new timeline posts per channel")
    parser.add_argument("--polls-at-once", type=int, default=50, help="channels.polls_at_once")
    parser.add_argument("--languages", default="en", help="the rule's languages, comma-separated")
    parser.set_defaults(
        run=bench_repost,
        header=REPOST_HEADER,
        settings=lambda args: {
            "SWITCHYARD_CHANNELS__POLLS_AT_ONCE": str(args.polls_at_once),
            "SWITCHYARD_CHANNELS__POSTS_PER_POLL": str(max(args.posts, 1)),
        },
    )


def add_publish_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("publish", help="posts due in the same minute over many channels")
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--posts-per-channel", type=int, default=10)
    parser.add_argument("--lead-seconds", type=float, default=30, help="first due time after the tick")
    parser.add_argument("--spread-seconds", type=float, default=0, help="due times spread over this")
    parser.add_argument("--ticks", type=int, default=3, help="flow runs at most, one a minute")
    parser.set_defaults(run=bench_publish, header=PUBLISH_HEADER, settings=lambda args: {})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--latency-ms", type=int, default=100)
    common.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    common.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    subparsers = parser.add_subparsers(dest="what", required=True)
    for add in ADD_PARSERS:
        add(_Sub(subparsers, common))
    return parser.parse_args()


class _Sub:
    """``subparsers`` whose every subcommand also takes the common options."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self._subparsers, self._common = subparsers, common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self._subparsers.add_parser(name, parents=[self._common], **kwargs)


ADD_PARSERS: list[Callable[[Any], None]] = [add_publish_parser, add_repost_parser]


def main() -> None:
    args = parse_args()
    configure(args.database_url, args.settings(args))
    sandbox = {"SWITCHYARD_SANDBOX__MICROBLOG_LATENCY_MS": str(args.latency_ms)}
    with sandbox_process(sandbox) as sandbox_url:
        os.environ["SWITCHYARD_MICROBLOG__BASE_URL"] = f"{sandbox_url}/microblog"
        from db.migrate import upgrade

        upgrade()
        row = args.run(args, sandbox_url)
    if args.record:
        record("channels", args.header, row)


if __name__ == "__main__":
    main()
