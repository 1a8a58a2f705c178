"""Automatic reposts: poll each reposting channel's home timeline since its watermark, judge every new
post with the channel's rules, judge again the posts waiting for likes, and repost each that passes,
exactly once, within the platform's limits.

Once per channel at a time: a poll claims the channel with a lease (``db.channels.reposts.claim_polls``,
renewed while it works), so two runs never poll one channel at once. Every judgement is written
before any repost is sent (a ``pending`` row in the repost log, unique per channel and post), and the
watermark moves in that same transaction; a repost is recorded as soon as it is answered. A repost
left ``pending`` by a lost run is sent again by the next poll: the platform answers a second repost
of one post as a success or "already reposted", and both count as done, so nothing is applied twice.

A 429 (or a limit another worker saw spent) leaves the posts pending until the reset, for every
worker, with one notification; a 401 refreshes the token and polls once more, else the channel is
unauthorised with a notification; a repost refused for good is failed with a notification. Each 100
reposts of a channel is a milestone notification.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from prefect import task
from prefect.artifacts import acreate_table_artifact

from connectors.microblog.base import ErrorKind, Microblog, MicroblogError
from connectors.microblog.http import microblog_client
from connectors.microblog.timeline import PAGE, read_home_timeline
from core.settings import get_settings
from db.base import utcnow
from db.channels import channels as channels_db
from db.channels import reposts as reposts_db
from db.channels.models import Channel, RepostStatus
from db.channels.reposts import Judged
from db.claims import Lease
from db.engine import session_factory
from rules.channels import Outcome, RepostRule, TimelinePost, Verdict, judge_for_channel
from tasks.artifacts import report
from tasks.batch import Batch, run_batch
from tasks.channels_platform import (
    blocked_until,
    limit_reached,
    refreshed_or_stopped,
    saw_limits,
    stop_unauthorised,
)
from tasks.claims import run_lease

RETRY_AFTER = timedelta(seconds=60)  # a 429 without a reset header
STATUS = {Outcome.REPOST: RepostStatus.PENDING, Outcome.NOT_YET: RepostStatus.WAITING}


@dataclass
class Tally:
    """What one channel's poll did."""

    channel_id: int
    screen_name: str = ""
    read: int = 0
    reposted: int = 0
    waiting: int = 0
    skipped: int = 0
    failed: int = 0
    left_pending: int = 0
    limited: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Poller:
    """What polling a channel needs, read once (the token decrypted: memory only)."""

    channel_id: int
    screen_name: str
    platform_user_id: str
    access_token: str
    rules: tuple[RepostRule, ...]
    since_id: str | None
    waiting: tuple[str, ...]

    def __repr__(self) -> str:  # never the token
        return f"Poller(@{self.screen_name})"


def poller(channel_id: int) -> Poller:
    with session_factory().begin() as session:
        channel = session.get(Channel, channel_id)
        tokens = channels_db.tokens_of(session, channel_id=channel_id)
        return Poller(
            channel_id,
            channel.screen_name,
            channel.platform_user_id,
            tokens.access_token,
            tuple(rule for _, _, rule in reposts_db.repost_rules(session, channel_id=channel_id)),
            reposts_db.watermark(session, channel_id=channel_id),
            tuple(reposts_db.waiting_posts(session, channel_id=channel_id)),
        )


def _judged(post: TimelinePost, verdict: Verdict) -> Judged:
    status = STATUS.get(verdict.outcome, RepostStatus.SKIPPED)
    return Judged(post.post_id, post.author_username[:50], status, verdict.reason)


def judge_posts(
    channel: Poller, posts: tuple[TimelinePost, ...], now: datetime, give_up_after: timedelta
) -> list[Judged]:
    return [
        _judged(post, judge_for_channel(post, channel.rules, channel.platform_user_id, now, give_up_after))
        for post in posts
    ]


def _store(channel_id: int, judged: list[Judged], newest_id: str | None) -> None:
    """The judgements, then the watermark, in one transaction: a post is never passed unjudged."""
    with session_factory().begin() as session:
        reposts_db.record_judgements(session, channel_id=channel_id, judged=judged)
        if newest_id:
            reposts_db.move_watermark(session, channel_id=channel_id, since_id=newest_id)


def _pending(channel_id: int) -> tuple[list[str], int]:
    with session_factory().begin() as session:
        return (
            reposts_db.pending_posts(session, channel_id=channel_id),
            reposts_db.reposted_count(session, channel_id=channel_id),
        )


def _done(channel_id: int, post_id: str, error: str | None = None) -> None:
    with session_factory().begin() as session:
        if reposts_db.reposted(session, channel_id=channel_id, source_post_id=post_id, error=error) and error:
            text = f"repost of post {post_id} failed: {error}"
            channels_db.notify(session, channel_id=channel_id, level="warning", text=text)


def _limited(channel_id: int, reset: datetime, waiting: int) -> None:
    with session_factory().begin() as session:
        limit_reached(
            session,
            channel_id=channel_id,
            action="reposts",
            reset=reset,
            waiting=f"{waiting} repost{'s' if waiting != 1 else ''} wait",
        )


def _milestones(channel_id: int, before: int, after: int) -> None:
    if after // channels_db.MILESTONE == before // channels_db.MILESTONE:
        return
    with session_factory().begin() as session:
        channels_db.note_milestones(
            session, channel_id=channel_id, what="posts reposted", before=before, after=after
        )


async def _repost_pending(client: Microblog, channel: Poller, tally: Tally) -> None:
    """Send every pending repost of the channel once, until the limit; a 401 is raised to the caller."""
    channel_id = channel.channel_id
    if await asyncio.to_thread(blocked_until, channel_id, "reposts") is not None:
        tally.limited = True  # told when it was reached
        tally.left_pending = len((await asyncio.to_thread(_pending, channel_id))[0])
        return
    pending, before = await asyncio.to_thread(_pending, channel_id)
    try:
        for n, post_id in enumerate(pending):
            seen = client.rate_limits.get("reposts")
            if seen is not None and seen.remaining == 0 and seen.reset_at > utcnow():
                tally.limited, tally.left_pending = True, len(pending) - n
                await asyncio.to_thread(_limited, channel_id, seen.reset_at, len(pending) - n)
                return
            try:
                await client.repost(channel.platform_user_id, post_id)
            except MicroblogError as error:
                if error.kind is ErrorKind.ALREADY_REPOSTED:  # a lost run sent it: done
                    pass
                elif error.kind is ErrorKind.RATE_LIMITED:
                    tally.limited, tally.left_pending = True, len(pending) - n
                    reset = error.reset_at or utcnow() + RETRY_AFTER
                    await asyncio.to_thread(_limited, channel_id, reset, len(pending) - n)
                    return
                elif error.kind is ErrorKind.UNAUTHORISED:
                    raise
                elif error.kind in (ErrorKind.UNKNOWN_OUTCOME, ErrorKind.TRANSIENT):
                    # it may be out: left pending, sent again by the next poll (safe, see above)
                    tally.left_pending, tally.detail = len(pending) - n, str(error)
                    return
                else:  # not there any more, or refused for good
                    await asyncio.to_thread(_done, channel_id, post_id, str(error))
                    tally.failed += 1
                    continue
            await asyncio.to_thread(_done, channel_id, post_id)
            tally.reposted += 1
    finally:
        await asyncio.to_thread(saw_limits, channel_id, client.rate_limits, "reposts")
        await asyncio.to_thread(_milestones, channel_id, before, before + tally.reposted)


async def _poll(channel: Poller, tally: Tally) -> None:
    settings = get_settings()
    give_up_after = timedelta(hours=settings.channels.wait_hours)
    async with microblog_client(settings.microblog, channel.access_token) as client:
        # a first poll reads only the newest page: a channel does not repost its timeline's history
        limit = settings.channels.posts_per_poll if channel.since_id else PAGE
        user_id = channel.platform_user_id
        read = await read_home_timeline(client, user_id, since_id=channel.since_id, limit=limit)
        now = utcnow()
        judged = judge_posts(channel, read.posts, now, give_up_after)
        if channel.waiting:
            found = await client.posts_by_ids(channel.waiting)
            judged += judge_posts(channel, found, now, give_up_after)
            gone = set(channel.waiting) - {post.post_id for post in found}
            judged += [Judged(pid, "", RepostStatus.SKIPPED, "no longer on the platform") for pid in gone]
        await asyncio.to_thread(_store, channel.channel_id, judged, read.newest_id)
        tally.read = len(read.posts)
        tally.waiting = sum(j.status is RepostStatus.WAITING for j in judged)
        tally.skipped = sum(j.status is RepostStatus.SKIPPED for j in judged)
        await _repost_pending(client, channel, tally)


async def poll_channel(channel_id: int) -> Tally:
    """Poll one claimed channel and repost what passes; every failure is in the tally."""
    tally = Tally(channel_id)
    for attempt in (1, 2):
        channel = await asyncio.to_thread(poller, channel_id)
        tally.screen_name = channel.screen_name
        try:
            await _poll(channel, tally)
            return tally
        except MicroblogError as error:
            if error.kind is not ErrorKind.UNAUTHORISED:
                tally.detail = str(error)
                return tally
            if attempt == 1 and await refreshed_or_stopped(channel_id, str(error)):
                continue  # polled again with the new token: what was stored stays, nothing repeats
            if attempt == 2:  # refused with a fresh token too
                await asyncio.to_thread(stop_unauthorised, channel_id, str(error))
            tally.detail = "unauthorised: connect it again"
            return tally
    return tally


async def poll_claimed(count: int, concurrency: int | None = None) -> list[Tally]:
    """Claim up to ``count`` reposting channels and poll at most ``concurrency`` of them at once."""
    settings = get_settings().channels
    lease = run_lease(settings.poll_lease_seconds)

    def claim(lease: Lease) -> list[int]:
        with session_factory().begin() as session:
            return reposts_db.claim_polls(session, lease=lease, limit=count)

    def renew(lease: Lease, ids: list[int] | tuple[int, ...]) -> set[int]:
        with session_factory().begin() as session:
            return reposts_db.renew_polls(session, lease=lease, channel_ids=list(ids))

    def release(outcomes: list[Tally]) -> None:
        with session_factory().begin() as session:
            reposts_db.release_polls(session, lease=lease, channel_ids=[t.channel_id for t in outcomes])

    _, outcomes = await run_batch(
        Batch(
            claim=claim,
            work=poll_channel,
            record=release,
            renew=renew,
            item_id=lambda channel_id: channel_id,
            outcome_id=lambda tally: tally.channel_id,
            crashed=lambda channel_id, error: Tally(channel_id, detail=error),
        ),
        lease_seconds=lease.seconds,
        concurrency=concurrency or settings.polls_at_once,
        lease=lease,
    )
    return outcomes


@task(task_run_name="poll up to {count} channels and repost")
async def poll_and_repost_channels(count: int = 1000) -> list[Tally]:
    """Poll the reposting channels' timelines and repost; a summary table of each channel's poll."""
    tallies = await poll_claimed(count)
    if tallies:
        rows = [
            {
                "channel": f"@{t.screen_name}" if t.screen_name else t.channel_id,
                "read": t.read,
                "reposted": t.reposted,
                "waiting": t.waiting,
                "skipped": t.skipped,
                "failed": t.failed,
                "limited": "yes" if t.limited else "",
                "detail": t.detail,
            }
            for t in sorted(tallies, key=lambda t: t.channel_id)
        ]
        await report(
            acreate_table_artifact(table=rows, key="channel-reposts", description="reposts of this run"),
            "summary",
        )
    return tallies
