"""Whether a sweep has anything to look at: one cheap EXISTS query each, so that a sweep's run can be
skipped before a process starts for it (deployments/quiet_sweeps.py).

Conservative: whatever the sweep could act on before ``now + ahead`` counts, and so does work that a
live run holds (the sweep then finds nothing, as it would without the check).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from db.briefs.models import UNFINISHED, Brief
from db.channels import channels, posts, reposts
from db.growth import jobs
from db.growth.config import job_logic
from db.mailing.models import Mailing, Message
from db.webpages import PageJob, PageStatus
from rules.growth import JobKind, JobStatus
from rules.mailing import MessageStatus


def _any(session: Session, condition: ColumnElement[bool]) -> bool:
    return bool(session.scalar(select(exists().where(condition))))


def pages_waiting(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A page not counted yet (new, or claimed by a run that may have been lost)."""
    return _any(session, PageJob.status.in_([PageStatus.NOT_STARTED, PageStatus.PENDING]))


def messages_waiting(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A message not sent yet whose mailing opens before ``now + ahead`` (or has closed: it expires)."""
    return _any(
        session,
        Message.status.in_([MessageStatus.NEW, MessageStatus.SENDING])
        & Message.mailing_id.in_(select(Mailing.id).where(Mailing.starts_at <= now + ahead)),
    )


def briefs_waiting(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A brief not finished or failed."""
    return _any(session, Brief.status.in_(list(UNFINISHED)))


def posts_waiting(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A post of a publishing channel due within ``ahead`` of ``now + ahead``, or one whose
    publishing run's claim lapses before then (`claim_due`'s own condition, judged ``ahead`` later)."""
    return posts.any_due(session, within=ahead, now=now + ahead)


def like_jobs_to_plan(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """An account due a like job, or a like job to plan (or a lapsed claim of any job)."""
    return jobs.like_job_due(
        session, every_minutes=job_logic(session).like_every_minutes, now=now + ahead
    ) or jobs.any_claimable(session, kind=JobKind.LIKE, stage=JobStatus.ADDED, now=now + ahead)


def follow_jobs_to_plan(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A follow job to plan (or a lapsed claim of any job)."""
    return jobs.any_claimable(session, kind=JobKind.FOLLOW, stage=JobStatus.ADDED, now=now + ahead)


def likes_to_do(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A like job with likes to do, awake before ``now + ahead`` (or a lapsed claim of any job)."""
    return jobs.any_claimable(session, kind=JobKind.LIKE, stage=JobStatus.FOLLOWS, now=now + ahead)


def follows_to_do(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A follow job with follows to do, awake before ``now + ahead`` (or a lapsed claim of any job)."""
    return jobs.any_claimable(session, kind=JobKind.FOLLOW, stage=JobStatus.FOLLOWS, now=now + ahead)


def unfollows_to_do(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """An active account with unfollows on, or an unfollow job awake before ``now + ahead``."""
    return jobs.unfollows_possible(session) or jobs.any_claimable(
        session, kind=JobKind.UNFOLLOW, stage=JobStatus.FOLLOWS, now=now + ahead
    )


def tokens_expiring(session: Session, *, now: datetime, ahead: timedelta, within: timedelta) -> bool:
    """A running channel whose token ends within ``within`` of ``now + ahead`` and can be refreshed."""
    return bool(channels.expiring(session, within=within + ahead, now=now))


def channels_reposting(session: Session, *, now: datetime, ahead: timedelta) -> bool:
    """A running channel with reposting on (whether its timeline has anything new, only a poll tells)."""
    return reposts.any_reposting(session)
