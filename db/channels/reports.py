"""What the dashboard and the CLI show of channels: the channels with their state and counts, the
queue of posts (by slot), every repost rule (enabled or not), the repost log and the notifications
(the last two in their own modules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from db.channels.models import (
    Channel,
    ChannelNotification,
    ChannelState,
    ChannelToken,
    RepostRule,
    ScheduledPost,
)
from db.channels.posts import OPEN
from rules.channels import PostState
from rules.channels import RepostRule as RepostFilter


@dataclass(frozen=True)
class ChannelSummary:
    id: int
    owner: str
    screen_name: str
    platform_user_id: str
    timezone: str
    state: ChannelState
    state_reason: str | None
    scheduling_on: bool
    reposting_on: bool
    hashtags_on: bool
    queued: int  # posts waiting for their time
    errors: int  # posts a person may retry
    next_due: datetime | None
    unread: int
    token_expires_at: datetime | None


@dataclass(frozen=True)
class QueuedPost:
    id: int
    channel_id: int
    screen_name: str
    text: str
    published_text: str | None
    due_at: datetime
    from_slot: bool
    status: PostState
    platform_post_id: str | None
    attempts: int
    last_error: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class RuleSummary:
    id: int
    name: str
    enabled: bool
    rule: RepostFilter
    created_at: datetime


def channels(
    session: Session, *, owner: str | None = None, channel_ids: list[int] | None = None
) -> list[ChannelSummary]:
    """Every channel (or one owner's), by screen name, with its queue and unread counts."""
    queued = (
        select(
            ScheduledPost.channel_id,
            func.count().filter(ScheduledPost.status.in_((PostState.QUEUED, PostState.PUBLISHING))),
            func.count().filter(ScheduledPost.status == PostState.ERROR),
            func.min(ScheduledPost.due_at).filter(ScheduledPost.status == PostState.QUEUED),
        )
        .where(ScheduledPost.status.in_(OPEN))
        .group_by(ScheduledPost.channel_id)
    )
    counts = {row[0]: row[1:] for row in session.execute(queued)}
    unread = dict(
        session.execute(
            select(ChannelNotification.channel_id, func.count())
            .where(ChannelNotification.read_at.is_(None))
            .group_by(ChannelNotification.channel_id)
        ).all()
    )
    statement = (
        select(Channel, ChannelToken.expires_at)
        .outerjoin(ChannelToken, ChannelToken.channel_id == Channel.id)
        .order_by(Channel.screen_name)
    )
    if owner is not None:
        statement = statement.where(Channel.owner == owner)
    if channel_ids is not None:
        statement = statement.where(Channel.id.in_(channel_ids))
    summaries = []
    for channel, expires_at in session.execute(statement):
        waiting, errors, next_due = counts.get(channel.id, (0, 0, None))
        summaries.append(
            ChannelSummary(
                id=channel.id,
                owner=channel.owner,
                screen_name=channel.screen_name,
                platform_user_id=channel.platform_user_id,
                timezone=channel.timezone,
                state=channel.state,
                state_reason=channel.state_reason,
                scheduling_on=channel.scheduling_on,
                reposting_on=channel.reposting_on,
                hashtags_on=channel.hashtags_on,
                queued=waiting,
                errors=errors,
                next_due=next_due,
                unread=unread.get(channel.id, 0),
                token_expires_at=expires_at,
            )
        )
    return summaries


def queue(
    session: Session,
    *,
    channel_id: int | None = None,
    states: tuple[PostState, ...] = OPEN,
    post_ids: list[int] | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[QueuedPost]:
    """Posts in ``states`` (the open ones by default), soonest due first."""
    statement = (
        select(ScheduledPost, Channel.screen_name)
        .join(Channel, Channel.id == ScheduledPost.channel_id)
        .where(*_queue_filter(channel_id, states, post_ids))
        .order_by(ScheduledPost.due_at, ScheduledPost.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        QueuedPost(
            id=post.id,
            channel_id=post.channel_id,
            screen_name=screen_name,
            text=post.text,
            published_text=post.published_text,
            due_at=post.due_at,
            from_slot=post.from_slot,
            status=post.status,
            platform_post_id=post.platform_post_id,
            attempts=post.attempts,
            last_error=post.last_error,
            published_at=post.published_at,
        )
        for post, screen_name in session.execute(statement)
    ]


def count_queue(
    session: Session, *, channel_id: int | None = None, states: tuple[PostState, ...] = OPEN
) -> int:
    """How many posts ``queue`` would give with these filters and no limit."""
    query = select(func.count()).select_from(ScheduledPost)
    return session.scalar(query.where(*_queue_filter(channel_id, states, None))) or 0


def _queue_filter(
    channel_id: int | None, states: tuple[PostState, ...], post_ids: list[int] | None
) -> list[ColumnElement[bool]]:
    conditions = [ScheduledPost.status.in_(states)]
    if channel_id is not None:
        conditions.append(ScheduledPost.channel_id == channel_id)
    if post_ids is not None:
        conditions.append(ScheduledPost.id.in_(post_ids))
    return conditions


def by_slot(posts: list[QueuedPost], slots: list[time], timezone: str) -> dict[str, list[QueuedPost]]:
    """The queue grouped by the local slot time each post takes ("other time" for a chosen one)."""
    zone, names = ZoneInfo(timezone), {slot.strftime("%H:%M") for slot in slots}
    grouped: dict[str, list[QueuedPost]] = {}
    for post in posts:
        local = post.due_at.astimezone(zone).strftime("%H:%M")
        grouped.setdefault(local if post.from_slot and local in names else "other time", []).append(post)
    return grouped


def repost_rules(session: Session, *, channel_id: int) -> list[RuleSummary]:
    """Every repost rule of the channel, enabled or not, oldest first (the order they are tried in)."""
    rows = session.scalars(
        select(RepostRule).where(RepostRule.channel_id == channel_id).order_by(RepostRule.id)
    )
    return [
        RuleSummary(row.id, row.name, row.enabled, RepostFilter.model_validate(row.rule), row.created_at)
        for row in rows
    ]
