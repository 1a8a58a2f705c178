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
from db.channels.models import ScheduledPost
from db.mailing.models import Mailing, Message
from db.webpages import PageJob, PageStatus
from rules.channels import PostState
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
    """A queued post due before ``now + ahead``, or one being published (its run may have been lost)."""
    return _any(
        session,
        ((ScheduledPost.status == PostState.QUEUED) & (ScheduledPost.due_at <= now + ahead))
        | (ScheduledPost.status == PostState.PUBLISHING),
    )
