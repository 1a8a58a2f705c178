"""Scheduled posts: scheduling one, claiming the due ones with a lease, and every change of their
status (``transition``, through the kit's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from db import jobs as kit
from db.base import utcnow
from db.channels.models import Channel, ChannelState, ScheduledPost
from db.claims import Lease
from rules.channels import PostState

TERMINAL = (PostState.PUBLISHED, PostState.CANCELLED)
OPEN = (PostState.DRAFT, PostState.QUEUED, PostState.PUBLISHING, PostState.ERROR)


@dataclass(frozen=True)
class DuePost:
    """A claimed post: what publishing it needs. ``check_first``: claimed before (a lost run, or a
    retry): an earlier try may have published it, so the channel's own recent posts are read first."""

    id: int
    channel_id: int
    text: str
    due_at: datetime
    check_first: bool


def transition(
    session: Session,
    *,
    post_ids: Sequence[int],
    to: PostState,
    from_: Sequence[PostState],
    now: datetime | None = None,
    **values: object,
) -> int:
    return kit.transition(
        session,
        ScheduledPost,
        where=ScheduledPost.id.in_(list(post_ids)),
        to=to,
        from_=from_,
        terminal=to in (*TERMINAL, PostState.ERROR),
        now=now or utcnow(),
        **values,
    )


def schedule_post(
    session: Session,
    *,
    channel_id: int,
    text: str,
    due_at: datetime,
    from_slot: bool = False,
    draft: bool = False,
    now: datetime | None = None,
) -> ScheduledPost:
    """Store a post (its text checked by the caller); a due time in the past is refused."""
    now = now or utcnow()
    if not text.strip():
        raise ValueError("the post is empty")
    if due_at < now - timedelta(seconds=1):
        raise ValueError(f"the due time {due_at:%Y-%m-%d %H:%M} UTC is in the past")
    post = ScheduledPost(
        channel_id=channel_id,
        text=text,
        due_at=due_at,
        from_slot=from_slot,
        status=PostState.DRAFT if draft else PostState.QUEUED,
    )
    session.add(post)
    session.flush()
    return post


def taken_times(session: Session, *, channel_id: int, after: datetime) -> set[datetime]:
    """Due times of the channel's open posts after ``after`` (a slot with one is taken)."""
    return set(
        session.scalars(
            select(ScheduledPost.due_at).where(
                ScheduledPost.channel_id == channel_id,
                ScheduledPost.due_at > after,
                ScheduledPost.status.in_([PostState.DRAFT, PostState.QUEUED, PostState.PUBLISHING]),
            )
        )
    )


def _claimable(within: timedelta, now: datetime) -> ColumnElement[bool]:
    """Posts due before ``now + within`` of running channels with scheduling on, not put back until
    later, and those whose publishing run was lost."""
    running = select(Channel.id).where(Channel.state == ChannelState.RUNNING, Channel.scheduling_on.is_(True))
    lost = kit.lease_lapsed(ScheduledPost, [PostState.PUBLISHING], now)
    waiting = and_(
        ScheduledPost.status == PostState.QUEUED,
        or_(ScheduledPost.claimed_until.is_(None), ScheduledPost.claimed_until < now),  # put back until then
    )
    return and_(
        ScheduledPost.channel_id.in_(running), ScheduledPost.due_at <= now + within, or_(waiting, lost)
    )


def any_due(session: Session, *, within: timedelta, now: datetime) -> bool:
    """Whether `claim_due` would find a post at ``now``."""
    return bool(session.scalar(select(exists().where(_claimable(within, now)))))


def claim_due(
    session: Session, *, lease: Lease, within: timedelta, limit: int, now: datetime | None = None
) -> list[DuePost]:
    """Claim up to ``limit`` posts due before ``now + within`` of running channels with scheduling on,
    and those whose publishing run was lost (its lease lapsed: ``check_first``)."""
    now = now or utcnow()
    ids = kit.claim(
        session,
        ScheduledPost,
        claimable=_claimable(within, now),
        working=PostState.PUBLISHING,
        lease=lease,
        limit=limit,
        now=now,
    )
    rows = session.scalars(
        select(ScheduledPost).where(ScheduledPost.id.in_(ids)).order_by(ScheduledPost.due_at)
    )
    return [
        DuePost(row.id, row.channel_id, row.text, row.due_at, check_first=row.attempts > 1) for row in rows
    ]


def _finish_held(
    session: Session, *, post_id: int, lease: Lease, to: PostState, now: datetime, **values: object
) -> bool:
    """Move a post this run's lease holds out of ``publishing``; False if the run lost it."""
    return bool(
        kit.transition(
            session,
            ScheduledPost,
            where=and_(ScheduledPost.id == post_id, ScheduledPost.claimed_by == lease.owner),
            to=to,
            from_=[PostState.PUBLISHING],
            terminal=to is not PostState.QUEUED,
            now=now,
            **values,
        )
    )


def published(
    session: Session,
    *,
    post_id: int,
    platform_post_id: str,
    text: str,
    lease: Lease,
    now: datetime | None = None,
) -> bool:
    """The post is out (``text`` as published, hashtags included); False if this run lost it."""
    now = now or utcnow()
    return _finish_held(
        session,
        post_id=post_id,
        lease=lease,
        to=PostState.PUBLISHED,
        now=now,
        platform_post_id=platform_post_id,
        published_text=text,
        published_at=now,
    )


def failed(session: Session, *, post_id: int, error: str, lease: Lease, now: datetime | None = None) -> bool:
    """The post cannot go out as it is (refused, the channel unauthorised, …): ``error`` with why."""
    return _finish_held(
        session, post_id=post_id, lease=lease, to=PostState.ERROR, now=now or utcnow(), last_error=error
    )


def put_back(
    session: Session, *, post_id: int, lease: Lease, until: datetime, reason: str, now: datetime | None = None
) -> bool:
    """Back to the queue, not claimed again before ``until`` (a rate limit's reset, a back-off, an
    unknown outcome to look at again); the next claim checks the channel's own posts first."""
    return _finish_held(
        session,
        post_id=post_id,
        lease=lease,
        to=PostState.QUEUED,
        now=now or utcnow(),
        claimed_until=until,
        claimed_by=None,
        last_error=reason,
    )


def requeue(session: Session, *, post_id: int, due_at: datetime | None = None) -> bool:
    """A person queues an errored (or draft) post again, at ``due_at`` if given."""
    values: dict[str, object] = {"last_error": None, "finished_at": None}
    if due_at is not None:
        values["due_at"] = due_at
    return bool(
        transition(
            session,
            post_ids=[post_id],
            to=PostState.QUEUED,
            from_=[PostState.ERROR, PostState.DRAFT],
            **values,
        )
    )


def cancel(session: Session, *, post_id: int) -> bool:
    """Cancel a post not yet out (not one being published this moment)."""
    return bool(
        transition(
            session,
            post_ids=[post_id],
            to=PostState.CANCELLED,
            from_=[PostState.DRAFT, PostState.QUEUED, PostState.ERROR],
        )
    )


def published_count(session: Session, *, channel_id: int) -> int:
    """How many of the channel's posts Switchyard has published."""
    return session.scalar(
        select(func.count())
        .select_from(ScheduledPost)
        .where(ScheduledPost.channel_id == channel_id, ScheduledPost.status == PostState.PUBLISHED)
    )
