"""Publishing scheduled posts: claim the posts due in the next minute, publish each at its own due
time, exactly once.

A post whose outcome is unknown (a timeout, a 5xx after sending) is looked for among the channel's
own recent posts; the platform's "duplicate content" answer counts as done. A 429 puts the post back
until the limit's reset (the reset is kept for every worker); a 401 stops the channel with a
notification unless its token can be refreshed; a refusal is an error with the reason, which a person
may retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from prefect import task
from prefect.artifacts import acreate_table_artifact

from connectors.microblog.base import ErrorKind, Microblog, MicroblogError, RateLimit
from connectors.microblog.http import microblog_client
from core.batching import gather_in_groups
from core.settings import get_settings
from db import limits
from db.base import utcnow
from db.channels import channels as channels_db
from db.channels import posts as posts_db
from db.channels import reposts as reposts_db
from db.channels.models import Channel
from db.channels.posts import DuePost
from db.claims import Lease
from db.engine import session_factory
from rules.channels import HashtagRule, apply_hashtags
from tasks.artifacts import report
from tasks.channels_platform import blocked_until, limit_key, limit_reached, refreshed_or_stopped
from tasks.claims import run_lease

LOOK_BACK = timedelta(days=1)  # how far the channel's own posts are read to find an unseen outcome
RETRY_AFTER = timedelta(seconds=30)
RECORD_EVERY, RECORD_WAIT = 100, 0.5  # outcomes are written in groups of this many, or this often
LEASE_SECONDS = 180.0  # a claim outlasts the minute a post may wait for its time, and its request


class Published(StrEnum):
    PUBLISHED = "published"
    PUT_BACK = "put back"
    ERROR = "error"


@dataclass(frozen=True)
class PostOutcome:
    post_id: int
    channel_id: int
    result: Published
    detail: str = ""
    delay: float = 0.0  # seconds after its due time that the post went out


def claim(lease: Lease, limit: int) -> list[DuePost]:
    with session_factory().begin() as session:
        return posts_db.claim_due(session, lease=lease, within=timedelta(minutes=1), limit=limit)


@dataclass(frozen=True)
class Publisher:
    """What publishing a channel's post needs, read once (the token decrypted: memory only)."""

    platform_user_id: str
    access_token: str
    hashtags: HashtagRule | None

    def __repr__(self) -> str:  # never the token
        return f"Publisher({self.platform_user_id})"

    def final_text(self, text: str) -> str:
        """The text as it goes out: with the channel's hashtags, as many as fit."""
        return apply_hashtags(text, self.hashtags).text if self.hashtags else text


def publishers(channel_ids: Iterable[int]) -> dict[int, Publisher]:
    """The publishers of these channels, read in one transaction."""
    with session_factory().begin() as session:
        found = {}
        for channel_id in sorted(set(channel_ids)):
            channel = session.get(Channel, channel_id)
            tokens = channels_db.tokens_of(session, channel_id=channel_id)
            rule = reposts_db.hashtag_rule(session, channel_id=channel_id) if channel.hashtags_on else None
            found[channel_id] = Publisher(channel.platform_user_id, tokens.access_token, rule)
        return found


class ChannelRun:
    """One channel's part of a publishing run, shared by its posts: its publisher (read once, when
    the posts are claimed), one client, and one read of its limit or one token refresh at a time (posts
    due at the same moment share it: a second refresh would spend the rotated refresh token again,
    and be refused)."""

    def __init__(self, channel_id: int, publisher: Publisher, client: Microblog) -> None:
        self.channel_id = channel_id
        self.publisher = publisher
        self.client = client
        self._reading: asyncio.Future[datetime | None] | None = None
        self._refreshing: asyncio.Future[bool] | None = None

    async def blocked_until(self) -> datetime | None:
        """The posts limit's reset if a worker saw it spent (one read for the posts asking at once)."""
        if self._reading is None:
            reading = asyncio.ensure_future(asyncio.to_thread(blocked_until, self.channel_id, "posts"))
            reading.add_done_callback(lambda _: setattr(self, "_reading", None))
            self._reading = reading
        return await asyncio.shield(self._reading)

    async def refreshed(self, reason: str) -> bool:
        """Whether the channel's token was refreshed (once a run, whichever of its posts asks); if
        it could not be, the channel is unauthorised, with a notification."""
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(refreshed_or_stopped(self.channel_id, reason))
        return await asyncio.shield(self._refreshing)


async def _already_out(client: Microblog, user_id: str, text: str, since: datetime) -> str | None:
    """The id of the channel's own post with ``text`` since ``since``, if the platform has one."""
    page = await client.own_posts(user_id, since=since, max_results=100)
    return next((post.post_id for post in page.posts if post.text == text), None)


@dataclass(frozen=True)
class Decided:
    """A post's outcome and what recording it needs: its platform id and text as published, and the
    posts limit its channel's answers said (None when none was seen)."""

    post: DuePost
    outcome: PostOutcome
    platform_id: str | None
    text: str
    seen: RateLimit | None


def _record(decided: Sequence[Decided], lease: Lease) -> None:
    """In one transaction, a group of decided posts: the posts limit each channel's answers said
    (the latest window, its lowest remaining: what `limits.saw_limit` would keep of them all), and each
    post published, or failed with a notification (a post put back was written where that was decided)."""
    latest: dict[int, RateLimit] = {}
    for item in decided:
        seen, known = item.seen, latest.get(item.post.channel_id)
        if seen is not None and (
            known is None or (seen.reset_at, -seen.remaining) > (known.reset_at, -known.remaining)
        ):
            latest[item.post.channel_id] = seen
    with session_factory().begin() as session:
        for channel_id, seen in sorted(latest.items()):
            limits.saw_limit(
                session,
                key=limit_key(channel_id, "posts"),
                limit=seen.limit,
                remaining=seen.remaining,
                reset_at=seen.reset_at,
            )
        for item in decided:
            post, outcome = item.post, item.outcome
            if outcome.result is Published.PUBLISHED:
                if posts_db.published(
                    session,
                    post_id=post.id,
                    platform_post_id=item.platform_id or "",
                    text=item.text,
                    lease=lease,
                ):
                    count = posts_db.published_count(session, channel_id=post.channel_id)
                    channels_db.note_milestones(
                        session,
                        channel_id=post.channel_id,
                        what="posts published",
                        before=count - 1,
                        after=count,
                    )
            elif outcome.result is Published.ERROR:
                posts_db.failed(session, post_id=post.id, error=outcome.detail, lease=lease)
                channels_db.notify(
                    session,
                    channel_id=post.channel_id,
                    level="warning",
                    text=f"post {post.id} failed: {outcome.detail}",
                )


async def publish_one(post: DuePost, lease: Lease, channel: ChannelRun) -> Decided:
    """Wait for the post's due time, then publish it once; every failure is an outcome. A post put
    back is written here; a published or failed one is for the caller to record."""
    wait = (post.due_at - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    client, text = channel.client, channel.publisher.final_text(post.text)

    def outcome(result: Published, detail: str = "") -> PostOutcome:
        return PostOutcome(post.id, post.channel_id, result, detail, (utcnow() - post.due_at).total_seconds())

    if (reset := await channel.blocked_until()) is not None:
        await asyncio.to_thread(_put_back_until, post, lease, reset, "posts limit reached")
        return Decided(
            post,
            outcome(Published.PUT_BACK, f"posts limit reached until {reset:%H:%M:%S} UTC"),
            None,
            text,
            None,
        )
    platform_id: str | None = None
    try:
        if post.check_first and (
            found := await _already_out(
                client, channel.publisher.platform_user_id, text, post.due_at - LOOK_BACK
            )
        ):
            result, platform_id = outcome(Published.PUBLISHED, "found among its own posts"), found
        else:
            made = await client.create_post(text)
            result, platform_id = outcome(Published.PUBLISHED), made.id
    except MicroblogError as error:
        result, platform_id = await _after_error(channel, post, lease, text, error, outcome)
    return Decided(post, result, platform_id, text, client.rate_limits.get("posts"))


async def _after_error(
    channel: ChannelRun,
    post: DuePost,
    lease: Lease,
    text: str,
    error: MicroblogError,
    outcome: Callable[[Published, str], PostOutcome],
) -> tuple[PostOutcome, str | None]:
    """What a refused or unanswered post comes to: (outcome, platform id if it is out)."""
    if error.kind in (ErrorKind.UNKNOWN_OUTCOME, ErrorKind.DUPLICATE):
        try:
            found = await _already_out(
                channel.client, channel.publisher.platform_user_id, text, post.due_at - LOOK_BACK
            )
        except MicroblogError:
            found = None
        if found or error.kind is ErrorKind.DUPLICATE:  # the platform's duplicate answer: it is out already
            return outcome(Published.PUBLISHED, str(error) if not found else ""), found or ""
        await asyncio.to_thread(_put_back_until, post, lease, utcnow() + RETRY_AFTER, str(error))
        return outcome(Published.PUT_BACK, str(error)), None
    if error.kind is ErrorKind.RATE_LIMITED:
        reset = error.reset_at or utcnow() + RETRY_AFTER
        await asyncio.to_thread(_limit_reached, post, lease, reset)
        return outcome(Published.PUT_BACK, f"posts limit reached until {reset:%H:%M:%S} UTC"), None
    if error.kind is ErrorKind.UNAUTHORISED:  # an expired token is refreshed and the post tried again
        if await channel.refreshed(str(error)):
            await asyncio.to_thread(_put_back_until, post, lease, utcnow(), "its token was refreshed")
            return outcome(Published.PUT_BACK, "its token was refreshed: tried again next"), None
        await asyncio.to_thread(_put_back_until, post, lease, utcnow(), "the channel is unauthorised")
        return outcome(Published.PUT_BACK, "the channel is unauthorised"), None
    if error.kind is ErrorKind.TRANSIENT:
        await asyncio.to_thread(_put_back_until, post, lease, utcnow() + RETRY_AFTER, str(error))
        return outcome(Published.PUT_BACK, str(error)), None
    return outcome(Published.ERROR, str(error)), None


def _put_back_until(post: DuePost, lease: Lease, until: datetime, reason: str) -> None:
    with session_factory().begin() as session:
        posts_db.put_back(session, post_id=post.id, lease=lease, until=until, reason=reason)


def _limit_reached(post: DuePost, lease: Lease, reset: datetime) -> None:
    with session_factory().begin() as session:
        posts_db.put_back(session, post_id=post.id, lease=lease, until=reset, reason="posts limit reached")
        limit_reached(session, channel_id=post.channel_id, action="posts", reset=reset, waiting="posts wait")


async def publish_claimed(count: int, lease_seconds: float = LEASE_SECONDS) -> list[PostOutcome]:
    """Claim up to ``count`` posts due within the minute and publish each at its due time; a post held
    by a run that died comes back after ``lease_seconds``, to be looked for before it is sent again."""
    lease = run_lease(lease_seconds)
    due = await asyncio.to_thread(claim, lease, count)
    if not due:
        return []
    found = await asyncio.to_thread(publishers, (post.channel_id for post in due))
    settings = get_settings().microblog
    async with AsyncExitStack() as stack:
        runs = {
            channel_id: ChannelRun(
                channel_id,
                publisher,
                await stack.enter_async_context(microblog_client(settings, publisher.access_token)),
            )
            for channel_id, publisher in found.items()
        }
        outcomes: list[PostOutcome] = []

        async def record(group: list[Decided]) -> None:
            await asyncio.to_thread(_record, group, lease)
            outcomes.extend(decided.outcome for decided in group)

        jobs = (publish_one(post, lease, runs[post.channel_id]) for post in due)
        await gather_in_groups(jobs, record, group_size=RECORD_EVERY, max_wait=RECORD_WAIT)
    return outcomes


@task(task_run_name="publish up to {count} due posts")
async def publish_due(count: int = 1000) -> list[PostOutcome]:
    """Publish the posts due within the minute, and a summary table of what became of them."""
    outcomes = await publish_claimed(count)
    if outcomes:
        rows = [
            {
                "post": o.post_id,
                "channel": o.channel_id,
                "result": str(o.result),
                "delay s": round(o.delay, 2),
                "detail": o.detail,
            }
            for o in outcomes
        ]
        await report(
            acreate_table_artifact(table=rows, key="published-posts", description="posts of this run"),
            "summary",
        )
    return outcomes
