"""The daily report: the figures of one day summed from each domain's tables (one plain query per
domain), and the reports kept in ``daily_reports`` (one per day: a rerun replaces it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, String, Text, and_, case, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.base import Base, UTCDateTime, upsert_insert, utcnow
from db.briefs.models import Brief, BriefStatus
from db.channels.models import RepostRecord, RepostStatus, ScheduledPost
from db.growth.models import ActionRecord, Cooldown
from db.mailing.models import Mailing, Message
from db.webpages import CountRequest, PageJob, PageStatus
from rules.channels import PostState
from rules.growth import ActionStatus
from rules.mailing import MessageStatus
from rules.reports import DayFigures, Durations, MailingDay, day_bounds


class DailyReport(Base):
    """One day's report: its markdown, its figures (JSON) and whether it was e-mailed."""

    __tablename__ = "daily_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    markdown: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class StoredReport:
    day: date
    timezone: str
    markdown: str
    figures: DayFigures
    created_at: datetime
    emailed_at: datetime | None
    email_error: str | None


def _between(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def mailing_figures(session: Session, *, start: datetime, end: datetime) -> list[MailingDay]:
    """Messages sent (by ``sent_at``) and failed (by ``finished_at``) in [start, end), per mailing."""
    sent = and_(Message.status == MessageStatus.SENT, _between(Message.sent_at, start, end))
    failed = and_(Message.status == MessageStatus.FAILURE, _between(Message.finished_at, start, end))
    rows = session.execute(
        select(Mailing.id, Mailing.text, _count(sent), _count(failed))
        .join(Message, Message.mailing_id == Mailing.id)
        .where(sent | failed)
        .group_by(Mailing.id, Mailing.text)
        .order_by(Mailing.id)
    )
    return [MailingDay(id, text[:200], int(s), int(f)) for id, text, s, f in rows]


def brief_figures(session: Session, *, start: datetime, end: datetime) -> tuple[Durations, int]:
    """Briefs finished in [start, end) with their times from order to finish, and briefs failed."""
    rows = session.execute(
        select(Brief.status, Brief.created_at, Brief.finished_at).where(
            Brief.status.in_((BriefStatus.FINISHED, BriefStatus.FAILED)),
            _between(Brief.finished_at, start, end),
        )
    ).all()
    finished = BriefStatus.FINISHED
    seconds = [(end_ - begun).total_seconds() for status, begun, end_ in rows if status == finished]
    return Durations.of(seconds), sum(1 for status, _, _ in rows if status == BriefStatus.FAILED)


def webpage_figures(session: Session, *, start: datetime, end: datetime) -> tuple[int, int, int]:
    """Word-count requests created, pages counted and pages failed in [start, end)."""
    requests = session.scalar(select(func.count()).where(_between(CountRequest.created_at, start, end)))
    counted, failed = session.execute(
        select(
            _count(PageJob.status == PageStatus.FINISHED), _count(PageJob.status == PageStatus.FAILED)
        ).where(_between(PageJob.finished_at, start, end))
    ).one()
    return int(requests or 0), int(counted), int(failed)


def growth_figures(session: Session, *, start: datetime, end: datetime) -> tuple[dict[str, int], int]:
    """Growth actions done in [start, end) per action, and blocks begun then (an account's latest
    block of an action: a later block of the same action replaces the row)."""
    done = session.execute(
        select(ActionRecord.action, func.count())
        .where(ActionRecord.status == ActionStatus.DONE, _between(ActionRecord.done_at, start, end))
        .group_by(ActionRecord.action)
    )
    blocks = session.scalar(select(func.count()).where(_between(Cooldown.created_at, start, end)))
    return {str(action.value): int(count) for action, count in done}, int(blocks or 0)


def channel_figures(session: Session, *, start: datetime, end: datetime) -> tuple[int, int, int]:
    """Channel posts published and failed, and reposts made, in [start, end)."""
    published_then = _between(ScheduledPost.published_at, start, end)
    finished_then = _between(ScheduledPost.finished_at, start, end)
    published, failed = session.execute(
        select(
            _count(and_(ScheduledPost.status == PostState.PUBLISHED, published_then)),
            _count(and_(ScheduledPost.status == PostState.ERROR, finished_then)),
        ).where(published_then | finished_then)
    ).one()
    reposts = session.scalar(
        select(func.count()).where(
            RepostRecord.status == RepostStatus.REPOSTED, _between(RepostRecord.reposted_at, start, end)
        )
    )
    return int(published), int(failed), int(reposts or 0)


def day_figures(session: Session, *, day: date, timezone: str) -> DayFigures:
    """Everything of ``day`` (midnight to midnight in ``timezone``), one query per domain."""
    start, end = day_bounds(day, timezone)
    durations, briefs_failed = brief_figures(session, start=start, end=end)
    requests, counted, pages_failed = webpage_figures(session, start=start, end=end)
    actions, blocks = growth_figures(session, start=start, end=end)
    published, posts_failed, reposts = channel_figures(session, start=start, end=end)
    return DayFigures(
        day=day,
        timezone=timezone,
        mailings=mailing_figures(session, start=start, end=end),
        briefs_finished=durations,
        briefs_failed=briefs_failed,
        requests=requests,
        pages_counted=counted,
        pages_failed=pages_failed,
        growth_actions=actions,
        growth_blocks=blocks,
        posts_published=published,
        posts_failed=posts_failed,
        reposts=reposts,
    )


def save_report(session: Session, *, figures: DayFigures, markdown: str) -> None:
    """Keep the report of ``figures.day``; one of that day already kept is replaced (its e-mail
    state cleared: the new report is not sent yet)."""
    values = {
        "day": figures.day,
        "timezone": figures.timezone,
        "markdown": markdown,
        "figures": figures.to_json(),
        "created_at": utcnow(),
        "emailed_at": None,
        "email_error": None,
    }
    insert = upsert_insert(session, DailyReport).values(**values)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[DailyReport.day], set_={k: v for k, v in values.items() if k != "day"}
        )
    )


def record_email(session: Session, *, day: date, error: str | None) -> None:
    """Record how the e-mail of ``day``'s report went: sent now, or the error."""
    values: dict[str, Any] = {"email_error": error}
    if error is None:
        values["emailed_at"] = utcnow()
    session.execute(update(DailyReport).where(DailyReport.day == day).values(**values))


def _stored(row: DailyReport) -> StoredReport:
    return StoredReport(
        day=row.day,
        timezone=row.timezone,
        markdown=row.markdown,
        figures=DayFigures.from_json(row.figures),
        created_at=row.created_at,
        emailed_at=row.emailed_at,
        email_error=row.email_error,
    )


def get_report(session: Session, *, day: date) -> StoredReport | None:
    """The kept report of ``day``, if any."""
    row = session.scalar(select(DailyReport).where(DailyReport.day == day))
    return _stored(row) if row else None


def recent_reports(session: Session, *, limit: int = 7) -> list[StoredReport]:
    """The last ``limit`` reports kept, newest day first."""
    rows = session.scalars(select(DailyReport).order_by(DailyReport.day.desc()).limit(limit))
    return [_stored(row) for row in rows]


def count_reports(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DailyReport)) or 0)
