"""Database access for the Briefs page: plain data and frames from db/briefs.py queries."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd

from commands.briefs import order_brief, recollect_brief
from core.display import duration, moment
from dashboard.data import sessions
from db import briefs as briefs_db
from db.briefs import UNFINISHED, BriefStatus, BriefSummary, status_label
from rules.briefs import split_keywords

ARTICLE_COLUMNS = [
    "keyword", "platform", "title", "post_time", "like", "read", "share", "comment", "collect",
    "play", "danmu", "interaction", "user_name", "user_fans", "url",
]  # fmt: skip


def day_start(day: date | None) -> datetime | None:
    """Midnight UTC of ``day``."""
    return None if day is None else datetime.combine(day, time(), UTC)


def submit_brief(keywords_text: str, platforms: list[str], since: date | None, until: date | None) -> int:
    """Validate and store a brief from the form (``until`` counts its whole day); raises ValueError."""
    end = day_start(until + timedelta(days=1)) if until else None
    return order_brief(split_keywords(keywords_text), platforms, day_start(since), end).id


def recollect(brief_id: int) -> int:
    """Send the brief's partial and failed searches back to collection; how many. Raises ValueError."""
    return recollect_brief(brief_id)


def short_count(brief_id: int) -> int:
    """How many of the brief's searches came up short."""
    with sessions().begin() as session:
        return len(briefs_db.short_searches(session, brief_id=brief_id))


def find_briefs(
    keyword: str, status: BriefStatus | None, submitted: tuple[date, date] | None, limit: int = 100
) -> list[BriefSummary]:
    """Briefs newest first, filtered by a keyword part, a status and a range of submission days."""
    start, end = (
        (day_start(submitted[0]), day_start(submitted[1] + timedelta(days=1))) if submitted else (None, None)
    )
    with sessions().begin() as session:
        return briefs_db.list_briefs(
            session,
            keyword=keyword.strip() or None,
            status=status,
            submitted_from=start,
            submitted_until=end,
            limit=limit,
        )


def any_unfinished() -> bool:
    """Whether some brief is still being collected or analysed."""
    totals = brief_totals()
    return any(totals[status] for status in UNFINISHED)


def brief_totals() -> dict[BriefStatus, int]:
    """Briefs counted by status."""
    with sessions().begin() as session:
        return briefs_db.count_by_status(session)


def get_brief(brief_id: int) -> BriefSummary | None:
    with sessions().begin() as session:
        return briefs_db.get_brief(session, brief_id=brief_id)


def briefs_frame(briefs: list[BriefSummary]) -> pd.DataFrame:
    """One row per brief."""
    return pd.DataFrame(
        [
            {
                "id": brief.id,
                "keywords": ", ".join(brief.keywords),
                "platforms": ", ".join(brief.platforms),
                "status": status_label(brief),
                "articles": brief.articles,
                "submitted": moment(brief.created_at),
                "finished": moment(brief.finished_at),
                "took": duration(seconds_between(brief.created_at, brief.finished_at)),
                "problems": brief.last_error or "",
            }
            for brief in briefs
        ]
    )


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 1)


def searches_frame(brief_id: int) -> pd.DataFrame:
    """Progress per platform × keyword."""
    with sessions().begin() as session:
        rows = briefs_db.list_searches(session, brief_id=brief_id)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["status"] = frame["status"].map(str)
    return frame


def articles_frame(
    brief_id: int, platform: str | None, keyword: str | None, text: str, order_by: str, limit: int
) -> tuple[pd.DataFrame, int]:
    """The brief's articles, filtered and sorted as asked (at most ``limit``), and how many match in all."""
    filters = {"brief_id": brief_id, "platform": platform, "keyword": keyword, "text": text.strip() or None}
    with sessions().begin() as session:
        articles = briefs_db.list_articles(session, **filters, order_by=order_by, limit=limit)
        total = briefs_db.count_articles(session, **filters)
    frame = pd.DataFrame([asdict(article) for article in articles], columns=[*ARTICLE_COLUMNS, "topics"])
    return frame, total


def accounts_frame(brief_id: int) -> pd.DataFrame:
    with sessions().begin() as session:
        return pd.DataFrame(briefs_db.list_accounts(session, brief_id=brief_id))


def per_day_frame(brief_id: int) -> pd.DataFrame:
    """Articles per platform and day."""
    with sessions().begin() as session:
        rows = briefs_db.articles_per_day(session, brief_id=brief_id)
    return pd.DataFrame(rows, columns=["platform", "day", "articles"])


def engagement_frame(brief_id: int) -> pd.DataFrame:
    """Articles and engagement sums per platform."""
    with sessions().begin() as session:
        return pd.DataFrame(briefs_db.platform_totals(session, brief_id=brief_id))


def brief_file(brief: BriefSummary, name: str) -> Path | None:
    """One of the finished brief's files (``content_wc.png``, ``topic_wc.png``, …), if it is there."""
    if brief.status != BriefStatus.FINISHED or not brief.zip_path:
        return None
    path = Path(brief.zip_path).with_suffix("") / name if name != "zip" else Path(brief.zip_path)
    return path if path.is_file() else None
