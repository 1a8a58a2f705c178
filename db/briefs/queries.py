"""Briefs and their searches as the dashboard and the CLI list them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from db.briefs.models import Brief, BriefSearch, BriefStatus, SearchStatus
from rules.briefs import ShortSearch


@dataclass(frozen=True)
class BriefSummary:
    """A brief as the dashboard lists it."""

    id: int
    keywords: list[str]
    platforms: list[str]
    since: datetime | None
    until: datetime | None
    status: BriefStatus
    created_at: datetime
    started_at: datetime | None
    collected_at: datetime | None
    finished_at: datetime | None
    attempts: int
    last_error: str | None
    articles: int
    zip_path: str | None
    summary: dict[str, Any] | None


def list_searches(session: Session, *, brief_id: int) -> list[dict[str, Any]]:
    """Progress per platform × keyword."""
    s = BriefSearch
    rows = session.execute(
        select(
            s.platform,
            s.keyword,
            s.status,
            s.pages,
            s.articles,
            s.malformed,
            s.attempts,
            s.started_at,
            s.finished_at,
            s.error,
        )
        .where(s.brief_id == brief_id)
        .order_by(s.id)
    )
    return [row._asdict() for row in rows]


def short_searches(session: Session, *, brief_id: int) -> list[ShortSearch]:
    """The brief's searches that came up short (partial or failed), with why."""
    s = BriefSearch
    rows = session.execute(
        select(s.platform, s.keyword, s.status, s.pages, s.articles, s.error)
        .where(s.brief_id == brief_id, s.status.in_([SearchStatus.PARTIAL, SearchStatus.FAILED]))
        .order_by(s.id)
    )
    return [
        ShortSearch(row.platform, row.keyword, row.status.value, row.pages, row.articles, row.error or "")
        for row in rows
    ]


def status_label(brief: BriefSummary) -> str:
    """The brief's status as people read it: "finished (partial)" when some searches came up short."""
    if brief.status == BriefStatus.FINISHED and brief.last_error:
        return "finished (partial)"
    return brief.status.value


def _summary(brief: Brief) -> BriefSummary:
    return BriefSummary(**{field.name: getattr(brief, field.name) for field in fields(BriefSummary)})


def get_brief(session: Session, *, brief_id: int) -> BriefSummary | None:
    """One brief, or None."""
    brief = session.get(Brief, brief_id)
    return _summary(brief) if brief else None


def list_briefs(
    session: Session,
    *,
    keyword: str | None = None,
    status: BriefStatus | None = None,
    submitted_from: datetime | None = None,
    submitted_until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[BriefSummary]:
    """Briefs newest first, optionally with a keyword containing ``keyword``, a status, a submission range."""
    query = _brief_filter(
        select(Brief).order_by(Brief.id.desc()), keyword, status, submitted_from, submitted_until
    )
    return [_summary(brief) for brief in session.scalars(query.limit(limit).offset(offset))]


def count_briefs(
    session: Session,
    *,
    keyword: str | None = None,
    status: BriefStatus | None = None,
    submitted_from: datetime | None = None,
    submitted_until: datetime | None = None,
) -> int:
    """How many briefs ``list_briefs`` would give with these filters and no limit."""
    query = select(func.count()).select_from(Brief)
    return session.scalar(_brief_filter(query, keyword, status, submitted_from, submitted_until)) or 0


def _brief_filter(
    query: Any,
    keyword: str | None,
    status: BriefStatus | None,
    submitted_from: datetime | None,
    submitted_until: datetime | None,
) -> Any:
    if keyword:
        query = query.where(
            Brief.id.in_(
                select(BriefSearch.brief_id).where(BriefSearch.keyword.contains(keyword, autoescape=True))
            )
        )
    if status:
        query = query.where(Brief.status == status)
    if submitted_from:
        query = query.where(Brief.created_at >= submitted_from)
    if submitted_until:
        query = query.where(Brief.created_at < submitted_until)
    return query


def count_by_status(session: Session) -> dict[BriefStatus, int]:
    """Briefs counted by status, every status present."""
    counts = dict(session.execute(select(Brief.status, func.count()).group_by(Brief.status)).all())
    return {status: counts.get(status, 0) for status in BriefStatus}
