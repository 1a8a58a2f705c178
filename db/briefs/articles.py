"""A brief's articles and the accounts behind them: upserts, sums and reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from db.base import upsert_insert, utcnow
from db.briefs.models import COUNT_FIELDS, BriefAccount, BriefArticle
from rules.briefs import Article

ARTICLE_FIELDS = tuple(field.name for field in fields(Article))


def _article_row(brief_id: int, article: Article, now: datetime) -> dict[str, Any]:
    """The article's columns: its fields read one level deep (``dataclasses.asdict`` deep-copies each
    value, which was most of the CPU of storing a brief's articles)."""
    row = {name: getattr(article, name) for name in ARTICLE_FIELDS}
    row["topics"] = list(article.topics)
    return row | {"brief_id": brief_id, "collected_at": now}


def store_articles(session: Session, *, brief_id: int, articles: Sequence[Article]) -> None:
    """Upsert articles in one executemany: a re-run updates their counts and adds no duplicates.

    An article found for two keywords of the brief is stored once, for the keyword that found it first.
    """
    now = utcnow()
    rows = list(
        {(a.platform, a.external_id): _article_row(brief_id, a, now) for a in reversed(articles)}.values()
    )
    if not rows:
        return
    statement = upsert_insert(session, BriefArticle)
    updated = {name: statement.excluded[name] for name in (*COUNT_FIELDS, "user_fans", "user_fans_level")}
    upsert = statement.on_conflict_do_update(
        index_elements=["job_id", "platform", "external_id"],  # column names
        set_=updated | {"collected_at": statement.excluded.collected_at},
    )
    session.execute(upsert, rows)  # executemany: one compiled statement, rows sent in batches


def refresh_accounts(session: Session, *, brief_id: int) -> None:
    """Rebuild the brief's accounts from its articles in two statements."""
    session.execute(delete(BriefAccount).where(BriefAccount.brief_id == brief_id))
    a = BriefArticle
    sums = (
        select(
            a.brief_id,
            a.platform,
            a.user_name,
            func.max(a.user_fans),
            func.max(a.user_fans_level),
            func.count(),
            *(func.sum(getattr(a, name)) for name in ("like", "read", "share", "comment", "interaction")),
        )
        .where(a.brief_id == brief_id, a.user_name != "")
        .group_by(a.brief_id, a.platform, a.user_name)
    )
    columns = ["brief_id", "platform", "user_name", "user_fans", "user_fans_level", "articles"]
    columns += ["like", "read", "share", "comment", "interaction"]
    session.execute(insert(BriefAccount).from_select([getattr(BriefAccount, c) for c in columns], sums))


ARTICLE_COLUMNS = [getattr(BriefArticle, name) for name in ARTICLE_FIELDS]


def list_articles(
    session: Session,
    *,
    brief_id: int,
    platform: str | None = None,
    keyword: str | None = None,
    text: str | None = None,
    order_by: str = "interaction",
    limit: int | None = None,
    offset: int = 0,
) -> list[Article]:
    """The brief's articles, optionally of one platform or keyword or containing ``text``, best first."""
    query = select(*ARTICLE_COLUMNS).where(*_article_filter(brief_id, platform, keyword, text))
    order = getattr(BriefArticle, order_by) if order_by in (*COUNT_FIELDS, "post_time") else BriefArticle.id
    query = query.order_by(order.desc(), BriefArticle.id).limit(limit).offset(offset)
    topics = ARTICLE_FIELDS.index("topics")
    return [
        Article(*row[:topics], tuple(row[topics] or ()), *row[topics + 1 :]) for row in session.execute(query)
    ]


def count_articles(
    session: Session,
    *,
    brief_id: int,
    platform: str | None = None,
    keyword: str | None = None,
    text: str | None = None,
) -> int:
    """How many of the brief's articles ``list_articles`` would give with these filters and no limit."""
    query = select(func.count()).select_from(BriefArticle)
    return session.scalar(query.where(*_article_filter(brief_id, platform, keyword, text))) or 0


def _article_filter(
    brief_id: int, platform: str | None, keyword: str | None, text: str | None
) -> list[ColumnElement[bool]]:
    conditions = [BriefArticle.brief_id == brief_id]
    if platform:
        conditions.append(BriefArticle.platform == platform)
    if keyword:
        conditions.append(BriefArticle.keyword == keyword)
    if text:
        conditions.append(
            or_(
                BriefArticle.title.contains(text, autoescape=True),
                BriefArticle.content.contains(text, autoescape=True),
            )
        )
    return conditions


def list_accounts(
    session: Session, *, brief_id: int, limit: int = 500, offset: int = 0
) -> list[dict[str, Any]]:
    """The brief's accounts, most interaction first."""
    a = BriefAccount
    rows = session.execute(
        select(
            a.platform,
            a.user_name,
            a.user_fans,
            a.user_fans_level,
            a.articles,
            a.like,
            a.read,
            a.share,
            a.comment,
            a.interaction,
        )
        .where(a.brief_id == brief_id)
        .order_by(a.interaction.desc(), a.user_name, a.platform)
        .limit(limit)
        .offset(offset)
    )
    return [row._asdict() for row in rows]


def count_accounts(session: Session, *, brief_id: int) -> int:
    """How many accounts the brief has."""
    query = select(func.count()).select_from(BriefAccount).where(BriefAccount.brief_id == brief_id)
    return session.scalar(query) or 0


def platform_totals(session: Session, *, brief_id: int) -> list[dict[str, Any]]:
    """Per platform: the brief's articles and their engagement sums."""
    a = BriefArticle
    sums = [func.sum(getattr(a, name)).label(name) for name in COUNT_FIELDS]
    rows = session.execute(
        select(a.platform, func.count().label("articles"), *sums)
        .where(a.brief_id == brief_id)
        .group_by(a.platform)
        .order_by(a.platform)
    )
    return [row._asdict() for row in rows]


def articles_per_day(session: Session, *, brief_id: int) -> list[tuple[str, date, int]]:
    """(platform, day, articles) for the brief, days in UTC; articles without a time are left out."""
    rows = session.execute(
        select(BriefArticle.platform, BriefArticle.post_time).where(
            BriefArticle.brief_id == brief_id, BriefArticle.post_time.is_not(None)
        )
    )
    counts: dict[tuple[str, date], int] = {}
    for platform, post_time in rows:
        key = (platform, post_time.date())
        counts[key] = counts.get(key, 0) + 1
    return sorted((platform, day, n) for (platform, day), n in counts.items())
