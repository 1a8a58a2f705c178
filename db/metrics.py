"""What ``/metrics`` reads on each scrape: cheap counts, one query per domain (the service API's
``api/metrics.py`` turns them into Prometheus metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from db.briefs.models import UNFINISHED, Brief, BriefStatus
from db.channels.models import ScheduledPost
from db.growth.models import Job
from db.limits import LimitWindow, SeenLimit
from db.mailing.models import Message
from db.webpages import PageJob, PageStatus
from rules.channels import PostState
from rules.growth import OPEN_JOB_STATUSES
from rules.mailing import MessageStatus


@dataclass(frozen=True)
class WindowUse:
    """Uses counted in the current window of one (service, action) and window length, all accounts."""

    service: str
    action: str
    seconds: int
    used: int


@dataclass(frozen=True)
class SpentLimit:
    """A service's rate limit seen spent (remaining 0, reset still ahead): its workers wait."""

    service: str
    action: str
    waiting: int  # keys (accounts) waiting for the reset
    longest_wait_seconds: float


def messages_by_status(session: Session) -> dict[str, int]:
    """Every message status with its count (statuses without messages: 0)."""
    counts = dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
    return {status.value: int(counts.get(status, 0)) for status in MessageStatus}


def queue_depths(session: Session, *, now: datetime) -> dict[str, int]:
    """Work waiting per domain: messages due, pages pending, briefs not finished, growth jobs open,
    channel posts queued or publishing."""
    due = session.scalar(
        select(func.count()).where(
            Message.status.in_((MessageStatus.NEW, MessageStatus.SENDING)),
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
    )
    pages = session.scalar(
        select(func.count()).where(PageJob.status.in_((PageStatus.NOT_STARTED, PageStatus.PENDING)))
    )
    briefs = session.scalar(select(func.count()).where(Brief.status.in_(UNFINISHED)))
    jobs = session.scalar(select(func.count()).where(Job.status.in_(OPEN_JOB_STATUSES)))
    posts = session.scalar(
        select(func.count()).where(ScheduledPost.status.in_((PostState.QUEUED, PostState.PUBLISHING)))
    )
    return {
        "mailing": int(due or 0),
        "webpages": int(pages or 0),
        "briefs": int(briefs or 0),
        "growth": int(jobs or 0),
        "channels": int(posts or 0),
    }


def brief_durations(session: Session, *, limit: int) -> list[float]:
    """Seconds from order to finish of the last ``limit`` finished briefs."""
    rows = session.execute(
        select(Brief.created_at, Brief.finished_at)
        .where(Brief.status == BriefStatus.FINISHED, Brief.finished_at.is_not(None))
        .order_by(Brief.finished_at.desc())
        .limit(limit)
    )
    return [(finished - created).total_seconds() for created, finished in rows]


def messages_sent_since(session: Session, *, since: datetime) -> int:
    """Messages sent at or after ``since``."""
    return int(
        session.scalar(
            select(func.count()).where(Message.status == MessageStatus.SENT, Message.sent_at >= since)
        )
        or 0
    )


def window_uses(session: Session, *, now: datetime) -> list[WindowUse]:
    """Uses counted in each current window of the shared limiter (windows are aligned to the epoch)."""
    epoch = int(now.timestamp())
    rows = session.execute(
        select(LimitWindow.service, LimitWindow.action, LimitWindow.seconds, func.sum(LimitWindow.used))
        .where(LimitWindow.starts + LimitWindow.seconds > epoch, LimitWindow.starts <= epoch)
        .group_by(LimitWindow.service, LimitWindow.action, LimitWindow.seconds)
    )
    return [
        WindowUse(service, action, int(seconds), int(used or 0)) for service, action, seconds, used in rows
    ]


def spent_limits(session: Session, *, now: datetime) -> list[SpentLimit]:
    """Rate limits a service said were spent and that have not reset yet, per (service, action)."""
    rows = session.execute(
        select(SeenLimit.service, SeenLimit.action, func.count(), func.max(SeenLimit.reset_at))
        .where(SeenLimit.remaining <= 0, SeenLimit.reset_at > now)
        .group_by(SeenLimit.service, SeenLimit.action)
    )
    return [
        SpentLimit(service, action, int(count), max((reset - now).total_seconds(), 0.0))
        for service, action, count, reset in rows
    ]


def one_minute_before(now: datetime) -> datetime:
    return now - timedelta(minutes=1)
