"""The daily report: build (sum, render, keep) one day's report, and e-mail a kept one.

Called alike by the daily-report flow, ``python -m cli reports daily`` and the tests. The report is
kept before it is e-mailed, so a failed send never loses it: the error is recorded on its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from connectors.mail import MailError, send_mail
from core.settings import get_settings
from db.base import utcnow
from db.engine import session_factory
from db.reports import StoredReport, day_figures, get_report, recent_reports, record_email, save_report
from rules.reports import check_day, render_markdown, subject, yesterday


@dataclass(frozen=True)
class EmailOutcome:
    """Whether the e-mail went out: ``error`` is None when it did."""

    day: date
    recipients: list[str]
    error: str | None

    @property
    def sent(self) -> bool:
        return self.error is None


def report_day(day: date | None, *, now: datetime | None = None) -> date:
    """``day``, or yesterday in the report's time zone; a day not over yet is refused (ValueError)."""
    timezone = get_settings().report.timezone
    now = now or utcnow()
    chosen = day or yesterday(now, timezone)
    check_day(chosen, now, timezone)
    return chosen


def build_daily_report(
    day: date | None = None, *, sessions: sessionmaker[Session] | None = None, now: datetime | None = None
) -> StoredReport:
    """Sum ``day`` (default: yesterday in the report's time zone), render it and keep it, replacing a
    report of that day already kept. Raises ValueError for a day not over yet."""
    chosen = report_day(day, now=now)
    timezone = get_settings().report.timezone
    with (sessions or session_factory()).begin() as session:
        figures = day_figures(session, day=chosen, timezone=timezone)
        save_report(session, figures=figures, markdown=render_markdown(figures))
        stored = get_report(session, day=chosen)
    assert stored is not None
    return stored


def email_daily_report(day: date, *, sessions: sessionmaker[Session] | None = None) -> EmailOutcome:
    """E-mail the kept report of ``day`` to the recipients of the settings and record how it went
    on its row (sent at, or the error). Never raises for a failed send: the outcome says it."""
    settings = get_settings().report
    sessions = sessions or session_factory()
    with sessions.begin() as session:
        stored = get_report(session, day=day)
    if stored is None:
        raise ValueError(f"no report kept for {day.isoformat()}: build it first")
    error: str | None = None
    try:
        send_mail(settings, subject(stored.figures), stored.markdown)
    except MailError as exc:
        error = str(exc)
    with sessions.begin() as session:
        record_email(session, day=day, error=error)
    return EmailOutcome(day=day, recipients=list(settings.recipients), error=error)


def last_reports(limit: int = 7, *, sessions: sessionmaker[Session] | None = None) -> list[StoredReport]:
    """The last ``limit`` reports kept, newest first."""
    with (sessions or session_factory()).begin() as session:
        return recent_reports(session, limit=limit)
