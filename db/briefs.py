"""Briefs, their searches (one per platform × keyword), articles and accounts: models and queries.

A brief goes submitted → collecting (claimed, with a lease) → collected → analysing (claimed) →
finished, or failed with the reason; `transition` owns every change of status. A search goes
pending → running → done | partial (some pages could not be had) | failed. Articles are unique
per brief, platform and external id, so a re-run updates instead of adding. Functions take a
keyword-only ``session`` and never commit: the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from db import jobs
from db.base import Base, UTCDateTime, status_enum, utcnow
from rules.briefs import Article, BriefSpec, ShortSearch, Stage

COUNT_FIELDS = ("like", "read", "share", "comment", "collect", "play", "danmu", "download", "interaction")


class BriefStatus(StrEnum):
    SUBMITTED = "submitted"
    COLLECTING = "collecting"
    COLLECTED = "collected"
    ANALYSING = "analysing"
    FINISHED = "finished"
    FAILED = "failed"


UNFINISHED = tuple(s for s in BriefStatus if s not in (BriefStatus.FINISHED, BriefStatus.FAILED))


class SearchStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"


class Brief(Base):
    """A brief ordered by an analyst: keywords, platforms, an optional time range, and its progress."""

    __tablename__ = "brief_jobs"
    __table_args__ = (Index("ix_brief_jobs_status_claimed_until", "status", "claimed_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    platforms: Mapped[list[str]] = mapped_column(JSON)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[BriefStatus] = mapped_column(status_enum(BriefStatus), default=BriefStatus.SUBMITTED)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    articles: Mapped[int] = mapped_column(Integer, default=0)
    zip_path: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BriefSearch(Base):
    """One keyword searched on one platform for a brief: pages, articles, skipped items, errors."""

    __tablename__ = "brief_searches"
    __table_args__ = (UniqueConstraint("job_id", "platform", "keyword"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brief_id: Mapped[int] = mapped_column(
        "job_id", ForeignKey("brief_jobs.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str] = mapped_column(String(64))
    status: Mapped[SearchStatus] = mapped_column(status_enum(SearchStatus), default=SearchStatus.PENDING)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    articles: Mapped[int] = mapped_column(Integer, default=0)
    malformed: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class BriefArticle(Base):
    """An article collected for a brief, in the fields common to every platform."""

    __tablename__ = "brief_articles"
    __table_args__ = (
        UniqueConstraint("job_id", "platform", "external_id"),
        Index("ix_brief_articles_job_id_keyword", "job_id", "keyword"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brief_id: Mapped[int] = mapped_column("job_id", ForeignKey("brief_jobs.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    keyword: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    post_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    like: Mapped[int] = mapped_column(BigInteger, default=0)
    read: Mapped[int] = mapped_column(BigInteger, default=0)
    share: Mapped[int] = mapped_column(BigInteger, default=0)
    comment: Mapped[int] = mapped_column(BigInteger, default=0)
    collect: Mapped[int] = mapped_column(BigInteger, default=0)
    play: Mapped[int] = mapped_column(BigInteger, default=0)
    danmu: Mapped[int] = mapped_column(BigInteger, default=0)
    download: Mapped[int] = mapped_column(BigInteger, default=0)
    interaction: Mapped[int] = mapped_column(BigInteger, default=0)
    user_id: Mapped[str] = mapped_column(String(128), default="")
    user_name: Mapped[str] = mapped_column(String(255), default="")
    user_fans: Mapped[int] = mapped_column(BigInteger, default=0)
    user_fans_level: Mapped[str] = mapped_column(String(32), default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BriefAccount(Base):
    """An account that posted a brief's articles on one platform, with its sums over them."""

    __tablename__ = "brief_accounts"
    __table_args__ = (UniqueConstraint("job_id", "platform", "user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brief_id: Mapped[int] = mapped_column(
        "job_id", ForeignKey("brief_jobs.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    user_name: Mapped[str] = mapped_column(String(255))
    user_fans: Mapped[int] = mapped_column(BigInteger, default=0)
    user_fans_level: Mapped[str] = mapped_column(String(32), default="")
    articles: Mapped[int] = mapped_column(Integer, default=0)
    like: Mapped[int] = mapped_column(BigInteger, default=0)
    read: Mapped[int] = mapped_column(BigInteger, default=0)
    share: Mapped[int] = mapped_column(BigInteger, default=0)
    comment: Mapped[int] = mapped_column(BigInteger, default=0)
    interaction: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True)
class SearchToRun:
    """A search a collection run works on."""

    id: int
    platform: str
    keyword: str


@dataclass(frozen=True)
class ClaimedBrief:
    """A brief claimed for collection or analysis, with what the work needs."""

    id: int
    claim: int  # the claim's number (the brief's attempts then): a later claim fences this one off
    keywords: list[str]
    platforms: list[str]
    since: datetime | None
    until: datetime | None
    searches: list[SearchToRun]


@dataclass(frozen=True)
class SearchOutcome:
    """Where one search got to: ``error`` set with some articles is partial, with none failed."""

    id: int
    pages: int
    articles: int
    malformed: int
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class BriefSummary:
    """A brief as the dashboard lists it."""

    id: int
    keywords: list[str]
    platforms: list[str]
    since: datetime | None
    until: datetime | None
    status: BriefStatus
    submitted_at: datetime
    started_at: datetime | None
    collected_at: datetime | None
    finished_at: datetime | None
    attempts: int
    last_error: str | None
    articles: int
    zip_path: str | None
    summary: dict[str, Any] | None


def create_brief(session: Session, *, spec: BriefSpec) -> int:
    """Store a validated brief and its searches; returns the brief id."""
    brief = Brief(
        keywords=list(spec.keywords), platforms=list(spec.platforms), since=spec.since, until=spec.until
    )
    session.add(brief)
    session.flush()
    session.execute(
        insert(BriefSearch),
        [
            {"brief_id": brief.id, "platform": platform, "keyword": keyword}
            for platform in spec.platforms
            for keyword in spec.keywords
        ],
    )
    return brief.id


def transition(
    session: Session,
    *,
    to: BriefStatus,
    from_: Sequence[BriefStatus],
    brief_id: int | None = None,
    where: Sequence[Any] = (),
    now: datetime | None = None,
    **values: Any,
) -> int:
    """Move briefs from one of ``from_`` to ``to`` (with ``values``) in one conditional UPDATE.

    One brief (``brief_id``) or every brief matching ``where`` too. Finished and failed briefs get
    their finish time and lose their lease. Returns how many briefs moved. Every status change of a
    brief goes through here.
    """
    conditions = [*where, *([Brief.id == brief_id] if brief_id is not None else [])]
    terminal = to in (BriefStatus.FINISHED, BriefStatus.FAILED)
    where_all = and_(true(), *conditions)
    return jobs.transition(
        session, Brief, where=where_all, to=to, from_=from_, terminal=terminal, now=now or utcnow(), **values
    )


STAGES = {  # stage: (status waiting for it, status while it runs)
    Stage.COLLECT: (BriefStatus.SUBMITTED, BriefStatus.COLLECTING),
    Stage.ANALYSE: (BriefStatus.COLLECTED, BriefStatus.ANALYSING),
}


STAGE_WORKING = [working for _, working in STAGES.values()]


def _claimable(waiting: BriefStatus, working: BriefStatus, now: datetime) -> Any:
    lapsed = and_(Brief.status == working, Brief.claimed_until < now)
    return or_(Brief.status == waiting, lapsed)


def _held(claim: int) -> Any:
    """The brief is still held by the claim whose attempt number is ``claim`` (a later claim fences it)."""
    return Brief.attempts == claim


def claim_brief(
    session: Session, *, brief_id: int, stage: Stage, lease_seconds: int, now: datetime | None = None
) -> ClaimedBrief | None:
    """Claim a brief for ``stage`` with a lease; None if it is not waiting for it.

    A brief waits for a stage in the status before it, or in the stage's own status once the lease of
    the run that held it has lapsed. One conditional UPDATE: two runs never hold the same brief, and
    the claim's number (its attempt) fences off the run that held it before. A collection claims the
    searches not yet done.
    """
    now = now or utcnow()
    waiting, working = STAGES[stage]
    claimed = transition(
        session,
        brief_id=brief_id,
        to=working,
        from_=(waiting, working),
        where=(or_(Brief.status == waiting, Brief.claimed_until < now),),
        claimed_until=now + timedelta(seconds=lease_seconds),
        attempts=Brief.attempts + 1,
        started_at=func.coalesce(Brief.started_at, now),
    )
    if claimed != 1:
        return None
    brief = session.get_one(Brief, brief_id, populate_existing=True)
    query = select(BriefSearch.id, BriefSearch.platform, BriefSearch.keyword).where(
        BriefSearch.brief_id == brief_id
    )
    if stage == Stage.COLLECT:
        query = query.where(BriefSearch.status != SearchStatus.DONE)
    return ClaimedBrief(
        id=brief.id,
        claim=brief.attempts,
        keywords=list(brief.keywords),
        platforms=list(brief.platforms),
        since=brief.since,
        until=brief.until,
        searches=[SearchToRun(**row._asdict()) for row in session.execute(query.order_by(BriefSearch.id))],
    )


def holds_claim(session: Session, *, brief_id: int, stage: Stage, claim: int) -> bool:
    """Whether the claim numbered ``claim`` still holds the brief for ``stage``."""
    working = STAGES[stage][1]
    found = session.scalar(
        select(Brief.id).where(Brief.id == brief_id, Brief.status == working, _held(claim))
    )
    return found is not None


def waiting_briefs(
    session: Session, *, stage: Stage, after: int = 0, now: datetime | None = None, limit: int = 50
) -> list[int]:
    """Ids (above ``after``, at most ``limit``) of briefs waiting for ``stage``, oldest first.

    New ones and those a lost run held; page with ``after`` the last id seen.
    """
    waiting, working = STAGES[stage]
    return list(
        session.scalars(
            select(Brief.id)
            .where(_claimable(waiting, working, now or utcnow()), Brief.id > after)
            .order_by(Brief.id)
            .limit(limit)
        )
    )


def fail_abandoned(session: Session, *, max_attempts: int, now: datetime | None = None) -> int:
    """Fail briefs whose lease lapsed after ``max_attempts`` claims (their runs keep getting lost)."""
    now = now or utcnow()
    return transition(
        session,
        to=BriefStatus.FAILED,
        from_=STAGE_WORKING,
        where=(jobs.lease_lapsed(Brief, STAGE_WORKING, now), Brief.attempts >= max_attempts),
        now=now,
        last_error=f"gave up after {max_attempts} claims: the runs holding this brief were lost",
    )


def start_searches(session: Session, *, search_ids: Sequence[int], now: datetime | None = None) -> None:
    """Mark searches running (again, on a re-run)."""
    session.execute(
        update(BriefSearch)
        .where(BriefSearch.id.in_(list(search_ids)))
        .values(status=SearchStatus.RUNNING, started_at=now or utcnow(), finished_at=None, error=None)
        .execution_options(synchronize_session=False)
    )


def record_search(session: Session, *, outcome: SearchOutcome, now: datetime | None = None) -> None:
    """Store where a search got to, and its status from that.

    Pages and articles never go down: a search run again (re-collected, or after a lost run) keeps
    what an earlier run stored, so one that found some articles before is partial, not failed.
    """
    s = BriefSearch
    pages = case((s.pages > outcome.pages, s.pages), else_=outcome.pages)
    articles = case((s.articles > outcome.articles, s.articles), else_=outcome.articles)
    if outcome.error is None:
        status: Any = SearchStatus.DONE
    else:
        status = case((articles > 0, SearchStatus.PARTIAL.value), else_=SearchStatus.FAILED.value)
    session.execute(
        update(s)
        .where(s.id == outcome.id)
        .values(
            status=status,
            pages=pages,
            articles=articles,
            malformed=outcome.malformed,
            attempts=s.attempts + outcome.attempts,
            error=outcome.error,
            finished_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def reopen_short_searches(session: Session, *, brief_id: int, now: datetime | None = None) -> int:
    """Send a finished or failed brief back to collection for its partial and failed searches only.

    What was stored stays (articles, the searches done, their counts). Returns how many searches
    are to run again; ValueError when the brief does not exist, is still at work, or is complete.
    """
    brief = session.get(Brief, brief_id)
    if brief is None:
        raise ValueError(f"there is no brief {brief_id}")
    if brief.status in UNFINISHED:
        raise ValueError(f"brief {brief_id} is {brief.status.value}: let it end first")
    short = [SearchStatus.PARTIAL, SearchStatus.FAILED]
    reopened = session.execute(
        update(BriefSearch)
        .where(BriefSearch.brief_id == brief_id, BriefSearch.status.in_(short))
        .values(status=SearchStatus.PENDING, error=None, finished_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not reopened and brief.status == BriefStatus.FINISHED:
        raise ValueError(f"every search of brief {brief_id} is complete: nothing to re-collect")
    transition(
        session,
        brief_id=brief_id,
        to=BriefStatus.SUBMITTED,
        from_=[BriefStatus.FINISHED, BriefStatus.FAILED],
        now=now,
        collected_at=None,
        finished_at=None,
        last_error=None,
    )
    return reopened


def _article_row(brief_id: int, article: Article, now: datetime) -> dict[str, Any]:
    row = asdict(article)
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
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(BriefArticle)
    updated = {name: statement.excluded[name] for name in (*COUNT_FIELDS, "user_fans", "user_fans_level")}
    upsert = statement.on_conflict_do_update(
        index_elements=["job_id", "platform", "external_id"],  # column names
        set_=updated | {"collected_at": statement.excluded.collected_at},
    )
    session.execute(upsert, rows)  # executemany: one compiled statement, rows sent in batches


def finish_collection(session: Session, *, brief_id: int, claim: int, now: datetime | None = None) -> bool:
    """Count the brief's articles, sum its accounts, and mark it collected.

    False if the claim numbered ``claim`` no longer holds the brief's collection.
    """
    now = now or utcnow()
    refresh_accounts(session, brief_id=brief_id)
    total = session.scalar(select(func.count()).where(BriefArticle.brief_id == brief_id)) or 0
    searches = session.execute(
        select(BriefSearch.platform, BriefSearch.keyword, BriefSearch.error).where(
            BriefSearch.brief_id == brief_id, BriefSearch.error.is_not(None)
        )
    ).all()
    problems = "; ".join(f"{row.platform}/{row.keyword}: {row.error}" for row in searches) or None
    return (
        transition(
            session,
            brief_id=brief_id,
            to=BriefStatus.COLLECTED,
            from_=[BriefStatus.COLLECTING],
            where=(_held(claim),),
            collected_at=now,
            claimed_until=None,
            articles=total,
            last_error=problems,
        )
        == 1
    )


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


def finish_brief(
    session: Session,
    *,
    brief_id: int,
    claim: int,
    zip_path: str,
    summary: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Mark an analysed brief finished with its files and summary.

    False if the claim numbered ``claim`` no longer holds the brief's analysis. On success the row
    stays locked until the caller commits, so the files can be put in place meanwhile.
    """
    return (
        transition(
            session,
            brief_id=brief_id,
            to=BriefStatus.FINISHED,
            from_=[BriefStatus.ANALYSING],
            where=(_held(claim),),
            now=now,
            zip_path=zip_path,
            summary=summary,
        )
        == 1
    )


def fail_brief(
    session: Session, *, brief_id: int, error: str, claim: int | None = None, now: datetime | None = None
) -> bool:
    """Mark an unfinished brief failed with the reason (only while the claim ``claim`` holds it, if given)."""
    where = () if claim is None else (_held(claim),)
    failed = transition(
        session,
        brief_id=brief_id,
        to=BriefStatus.FAILED,
        from_=UNFINISHED,
        where=where,
        now=now,
        last_error=error[:4000],
    )
    return failed == 1


ARTICLE_COLUMNS = [getattr(BriefArticle, field.name) for field in fields(Article)]


def list_articles(
    session: Session,
    *,
    brief_id: int,
    platform: str | None = None,
    keyword: str | None = None,
    text: str | None = None,
    order_by: str = "interaction",
    limit: int | None = None,
) -> list[Article]:
    """The brief's articles, optionally of one platform or keyword or containing ``text``, best first."""
    query = select(*ARTICLE_COLUMNS).where(BriefArticle.brief_id == brief_id)
    if platform:
        query = query.where(BriefArticle.platform == platform)
    if keyword:
        query = query.where(BriefArticle.keyword == keyword)
    if text:
        query = query.where(
            or_(
                BriefArticle.title.contains(text, autoescape=True),
                BriefArticle.content.contains(text, autoescape=True),
            )
        )
    order = getattr(BriefArticle, order_by) if order_by in (*COUNT_FIELDS, "post_time") else BriefArticle.id
    query = query.order_by(order.desc(), BriefArticle.id).limit(limit)
    return [Article(**row._asdict() | {"topics": tuple(row.topics or ())}) for row in session.execute(query)]


def list_accounts(session: Session, *, brief_id: int, limit: int = 500) -> list[dict[str, Any]]:
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
        .order_by(a.interaction.desc(), a.user_name)
        .limit(limit)
    )
    return [row._asdict() for row in rows]


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
) -> list[BriefSummary]:
    """Briefs newest first, optionally with a keyword containing ``keyword``, a status, a submission range."""
    query = select(Brief).order_by(Brief.id.desc())
    if keyword:
        query = query.where(
            Brief.id.in_(
                select(BriefSearch.brief_id).where(BriefSearch.keyword.contains(keyword, autoescape=True))
            )
        )
    if status:
        query = query.where(Brief.status == status)
    if submitted_from:
        query = query.where(Brief.submitted_at >= submitted_from)
    if submitted_until:
        query = query.where(Brief.submitted_at < submitted_until)
    return [_summary(brief) for brief in session.scalars(query.limit(limit))]


def count_by_status(session: Session) -> dict[BriefStatus, int]:
    """Briefs counted by status, every status present."""
    counts = dict(session.execute(select(Brief.status, func.count()).group_by(Brief.status)).all())
    return {status: counts.get(status, 0) for status in BriefStatus}
