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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from prefect import task
from prefect.artifacts import acreate_table_artifact

from connectors.microblog.base import ErrorKind, Microblog, MicroblogError, RateLimit
from connectors.microblog.http import microblog_client
from core.pacing import LimitKey
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
from tasks.channels_tokens import refresh_channel

SERVICE = "microblog"
LOOK_BACK = timedelta(days=1)  # how far the channel's own posts are read to find an unseen outcome
RETRY_AFTER = timedelta(seconds=30)
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


def posts_key(channel_id: int) -> LimitKey:
    return LimitKey(SERVICE, str(channel_id), "posts")


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


def publisher(channel_id: int) -> Publisher:
    with session_factory().begin() as session:
        channel = session.get(Channel, channel_id)
        tokens = channels_db.tokens_of(session, channel_id=channel_id)
        rule = reposts_db.hashtag_rule(session, channel_id=channel_id) if channel.hashtags_on else None
        return Publisher(channel.platform_user_id, tokens.access_token, rule)


async def _already_out(client: Microblog, user_id: str, text: str, since: datetime) -> str | None:
    """The id of the channel's own post with ``text`` since ``since``, if the platform has one."""
    page = await client.own_posts(user_id, since=since, max_results=100)
    return next((post.post_id for post in page.posts if post.text == text), None)


def _record(
    post: DuePost, lease: Lease, outcome: PostOutcome, *, platform_id: str | None = None, text: str = ""
) -> None:
    """Write a decided post: published, or failed with a notification (a post put back was written
    where that was decided)."""
    with session_factory().begin() as session:
        if outcome.result is Published.PUBLISHED:
            posts_db.published(
                session, post_id=post.id, platform_post_id=platform_id or "", text=text, lease=lease
            )
        else:
            posts_db.failed(session, post_id=post.id, error=outcome.detail, lease=lease)
            channels_db.notify(
                session,
                channel_id=post.channel_id,
                level="warning",
                text=f"post {post.id} failed: {outcome.detail}",
            )


async def publish_one(post: DuePost, lease: Lease) -> PostOutcome:
    """Wait for the post's due time, then publish it once; every failure is an outcome."""
    settings = get_settings().microblog
    wait = (post.due_at - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    channel = await asyncio.to_thread(publisher, post.channel_id)
    text = channel.final_text(post.text)

    def outcome(result: Published, detail: str = "") -> PostOutcome:
        return PostOutcome(post.id, post.channel_id, result, detail, (utcnow() - post.due_at).total_seconds())

    def blocked_until() -> datetime | None:
        with session_factory().begin() as session:
            return limits.wait_until(session, key=posts_key(post.channel_id))

    if (reset := await asyncio.to_thread(blocked_until)) is not None:
        await asyncio.to_thread(_put_back_until, post, lease, reset, "posts limit reached")
        return outcome(Published.PUT_BACK, f"posts limit reached until {reset:%H:%M:%S} UTC")
    async with microblog_client(settings, channel.access_token) as client:
        try:
            if post.check_first and (
                found := await _already_out(client, channel.platform_user_id, text, post.due_at - LOOK_BACK)
            ):
                result = outcome(Published.PUBLISHED, "found among its own posts")
                await asyncio.to_thread(_record, post, lease, result, platform_id=found, text=text)
                return result
            made = await client.create_post(text)
            result = outcome(Published.PUBLISHED)
            platform_id = made.id
        except MicroblogError as error:
            result, platform_id = await _after_error(client, channel, post, lease, text, error, outcome)
        finally:
            await asyncio.to_thread(_saw_limits, post.channel_id, client.rate_limits)
    if result.result is not Published.PUT_BACK:  # a post put back was put back where it was decided
        await asyncio.to_thread(_record, post, lease, result, platform_id=platform_id, text=text)
    return result


async def _after_error(
    client: Microblog,
    channel: Publisher,
    post: DuePost,
    lease: Lease,
    text: str,
    error: MicroblogError,
    outcome: Callable[[Published, str], PostOutcome],
) -> tuple[PostOutcome, str | None]:
    """What a refused or unanswered post comes to: (outcome, platform id if it is out)."""
    if error.kind in (ErrorKind.UNKNOWN_OUTCOME, ErrorKind.DUPLICATE):
        try:
            found = await _already_out(client, channel.platform_user_id, text, post.due_at - LOOK_BACK)
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
        if (await refresh_channel(post.channel_id)).ok:
            await asyncio.to_thread(_put_back_until, post, lease, utcnow(), "its token was refreshed")
            return outcome(Published.PUT_BACK, "its token was refreshed: tried again next"), None
        await asyncio.to_thread(_unauthorised, post, lease, str(error))
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
        limits.saw_limit(session, key=posts_key(post.channel_id), limit=0, remaining=0, reset_at=reset)
        channels_db.notify(
            session,
            channel_id=post.channel_id,
            level="info",
            text=f"posts limit reached: waits until {reset:%H:%M} UTC",
        )


def _unauthorised(post: DuePost, lease: Lease, reason: str) -> None:
    with session_factory().begin() as session:
        posts_db.put_back(
            session, post_id=post.id, lease=lease, until=utcnow(), reason="the channel is unauthorised"
        )
        channels_db.unauthorised(session, channel_id=post.channel_id, reason=reason)


def _saw_limits(channel_id: int, seen: Mapping[str, RateLimit]) -> None:
    posts = seen.get("posts")
    if posts is None:
        return
    with session_factory().begin() as session:
        limits.saw_limit(
            session,
            key=posts_key(channel_id),
            limit=posts.limit,
            remaining=posts.remaining,
            reset_at=posts.reset_at,
        )


async def publish_claimed(count: int, lease_seconds: float = LEASE_SECONDS) -> list[PostOutcome]:
    """Claim up to ``count`` posts due within the minute and publish each at its due time; a post held
    by a run that died comes back after ``lease_seconds``, to be looked for before it is sent again."""
    lease = Lease(seconds=lease_seconds)
    due = await asyncio.to_thread(claim, lease, count)
    return list(await asyncio.gather(*(publish_one(post, lease) for post in due)))


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
