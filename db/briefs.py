"""Brief jobs, their searches (one per platform × keyword), articles and accounts: models and queries.

A job goes submitted → collecting (claimed, with a lease) → collected → analysing (claimed) →
finished, or failed with the reason; `transition` owns every change of status. A search goes
pending → running → done | partial (some pages could not be had) | failed. Articles are unique
per job, platform and external id, so a re-run updates instead of adding. Functions take a
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
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.base import Base, UTCDateTime, status_enum, utcnow
from rules.briefs import Article, BriefSpec

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


class BriefJob(Base):
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
    """One keyword searched on one platform for a job: pages, articles, skipped items, errors."""

    __tablename__ = "brief_searches"
    __table_args__ = (UniqueConstraint("job_id", "platform", "keyword"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("brief_jobs.id", ondelete="CASCADE"), index=True)
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
    """An article collected for a job, in the fields common to every platform."""

    __tablename__ = "brief_articles"
    __table_args__ = (
        UniqueConstraint("job_id", "platform", "external_id"),
        Index("ix_brief_articles_job_id_keyword", "job_id", "keyword"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("brief_jobs.id", ondelete="CASCADE"))
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
    """An account that posted a job's articles on one platform, with its sums over them."""

    __tablename__ = "brief_accounts"
    __table_args__ = (UniqueConstraint("job_id", "platform", "user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("brief_jobs.id", ondelete="CASCADE"), index=True)
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
    """A job claimed for collection or analysis, with what the work needs."""

    id: int
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
    """A job as the dashboard lists it."""

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
    """Store a validated job and its searches; returns the job id."""
    job = BriefJob(
        keywords=list(spec.keywords), platforms=list(spec.platforms), since=spec.since, until=spec.until
    )
    session.add(job)
    session.flush()
    session.execute(
        insert(BriefSearch),
        [
            {"job_id": job.id, "platform": platform, "keyword": keyword}
            for platform in spec.platforms
            for keyword in spec.keywords
        ],
    )
    return job.id


def transition(
    session: Session,
    *,
    job_id: int,
    to: BriefStatus,
    from_: Sequence[BriefStatus],
    now: datetime | None = None,
    **values: Any,
) -> bool:
    """Move a job from one of ``from_`` to ``to`` (with ``values``) in one conditional UPDATE.

    Finished and failed jobs get their finish time; returns whether the job was in a ``from_`` status.
    """
    now = now or utcnow()
    if to in (BriefStatus.FINISHED, BriefStatus.FAILED):
        values = {"finished_at": now, "claimed_until": None} | values
    result = session.execute(
        update(BriefJob)
        .where(BriefJob.id == job_id, BriefJob.status.in_(list(from_)))
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


STAGES = {  # stage: (status waiting for it, status while it runs)
    "collect": (BriefStatus.SUBMITTED, BriefStatus.COLLECTING),
    "analyse": (BriefStatus.COLLECTED, BriefStatus.ANALYSING),
}


def _claimable(waiting: BriefStatus, working: BriefStatus, now: datetime) -> Any:
    lapsed = and_(BriefJob.status == working, BriefJob.claimed_until < now)
    return or_(BriefJob.status == waiting, lapsed)


def claim_brief(
    session: Session, *, job_id: int, stage: str, lease_seconds: int, now: datetime | None = None
) -> ClaimedBrief | None:
    """Claim a job for ``stage`` ("collect" or "analyse") with a lease; None if it is not waiting for it.

    A job waits for a stage in the status before it, or in the stage's own status once the lease of
    the run that held it has lapsed. One conditional UPDATE: two runs never hold the same job.
    """
    now = now or utcnow()
    waiting, working = STAGES[stage]
    claimed = session.execute(
        update(BriefJob)
        .where(BriefJob.id == job_id, _claimable(waiting, working, now))
        .values(
            status=working,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=BriefJob.attempts + 1,
            started_at=func.coalesce(BriefJob.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    job = session.get_one(BriefJob, job_id, populate_existing=True)
    searches = session.execute(
        select(BriefSearch.id, BriefSearch.platform, BriefSearch.keyword)
        .where(BriefSearch.job_id == job_id)
        .order_by(BriefSearch.id)
    )
    return ClaimedBrief(
        id=job.id,
        keywords=list(job.keywords),
        platforms=list(job.platforms),
        since=job.since,
        until=job.until,
        searches=[SearchToRun(**row._asdict()) for row in searches],
    )


def waiting_briefs(
    session: Session,
    *,
    stage: str,
    settled: timedelta = timedelta(0),
    now: datetime | None = None,
    limit: int = 50,
) -> list[int]:
    """Ids of jobs waiting for ``stage``, oldest first (new ones and those a lost run held).

    A job that entered its waiting status less than ``settled`` ago is left to the run that was
    started for it.
    """
    now = now or utcnow()
    waiting, working = STAGES[stage]
    entered = BriefJob.submitted_at if stage == "collect" else BriefJob.collected_at
    settled_or_lapsed = or_(entered <= now - settled, BriefJob.status == working)
    return list(
        session.scalars(
            select(BriefJob.id)
            .where(_claimable(waiting, working, now), settled_or_lapsed)
            .order_by(BriefJob.id)
            .limit(limit)
        )
    )


def fail_abandoned(session: Session, *, max_attempts: int, now: datetime | None = None) -> int:
    """Fail jobs whose lease lapsed after ``max_attempts`` claims (their runs keep getting lost)."""
    now = now or utcnow()
    working = [BriefStatus.COLLECTING, BriefStatus.ANALYSING]
    result = session.execute(
        update(BriefJob)
        .where(BriefJob.status.in_(working), BriefJob.claimed_until < now, BriefJob.attempts >= max_attempts)
        .values(
            status=BriefStatus.FAILED,
            finished_at=now,
            claimed_until=None,
            last_error=f"gave up after {max_attempts} claims: the runs holding this brief were lost",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def start_searches(session: Session, *, search_ids: Sequence[int], now: datetime | None = None) -> None:
    """Mark searches running (again, on a re-run)."""
    session.execute(
        update(BriefSearch)
        .where(BriefSearch.id.in_(list(search_ids)))
        .values(status=SearchStatus.RUNNING, started_at=now or utcnow(), finished_at=None, error=None)
        .execution_options(synchronize_session=False)
    )


def record_search(session: Session, *, outcome: SearchOutcome, now: datetime | None = None) -> None:
    """Store where a search got to, and its status from that."""
    if outcome.error is None:
        status = SearchStatus.DONE
    else:
        status = SearchStatus.PARTIAL if outcome.articles else SearchStatus.FAILED
    session.execute(
        update(BriefSearch)
        .where(BriefSearch.id == outcome.id)
        .values(
            status=status,
            pages=outcome.pages,
            articles=outcome.articles,
            malformed=outcome.malformed,
            attempts=outcome.attempts,
            error=outcome.error,
            finished_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def _article_row(job_id: int, article: Article, now: datetime) -> dict[str, Any]:
    row = asdict(article)
    row["topics"] = list(article.topics)
    return row | {"job_id": job_id, "collected_at": now}


def store_articles(session: Session, *, job_id: int, articles: Sequence[Article]) -> None:
    """Upsert articles in one executemany: a re-run updates their counts and adds no duplicates.

    An article found for two keywords of the job is stored once, for the keyword that found it first.
    """
    now = utcnow()
    rows = list(
        {(a.platform, a.external_id): _article_row(job_id, a, now) for a in reversed(articles)}.values()
    )
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(BriefArticle)
    updated = {name: statement.excluded[name] for name in (*COUNT_FIELDS, "user_fans", "user_fans_level")}
    upsert = statement.on_conflict_do_update(
        index_elements=["job_id", "platform", "external_id"],
        set_=updated | {"collected_at": statement.excluded.collected_at},
    )
    session.execute(upsert, rows)  # executemany: one compiled statement, rows sent in batches


def finish_collection(session: Session, *, job_id: int, now: datetime | None = None) -> bool:
    """Count the job's articles, sum its accounts, and mark it collected; False if it was not collecting."""
    now = now or utcnow()
    refresh_accounts(session, job_id=job_id)
    total = session.scalar(select(func.count()).where(BriefArticle.job_id == job_id)) or 0
    searches = session.execute(
        select(BriefSearch.platform, BriefSearch.keyword, BriefSearch.error).where(
            BriefSearch.job_id == job_id, BriefSearch.error.is_not(None)
        )
    ).all()
    problems = "; ".join(f"{row.platform}/{row.keyword}: {row.error}" for row in searches) or None
    return transition(
        session,
        job_id=job_id,
        to=BriefStatus.COLLECTED,
        from_=[BriefStatus.COLLECTING],
        collected_at=now,
        claimed_until=None,
        articles=total,
        last_error=problems,
    )


def refresh_accounts(session: Session, *, job_id: int) -> None:
    """Rebuild the job's accounts from its articles in two statements."""
    session.execute(delete(BriefAccount).where(BriefAccount.job_id == job_id))
    a = BriefArticle
    sums = (
        select(
            a.job_id,
            a.platform,
            a.user_name,
            func.max(a.user_fans),
            func.max(a.user_fans_level),
            func.count(),
            *(func.sum(getattr(a, name)) for name in ("like", "read", "share", "comment", "interaction")),
        )
        .where(a.job_id == job_id, a.user_name != "")
        .group_by(a.job_id, a.platform, a.user_name)
    )
    columns = ["job_id", "platform", "user_name", "user_fans", "user_fans_level", "articles"]
    columns += ["like", "read", "share", "comment", "interaction"]
    session.execute(insert(BriefAccount).from_select(columns, sums))


def finish_brief(
    session: Session, *, job_id: int, zip_path: str, summary: dict[str, Any], now: datetime | None = None
) -> bool:
    """Mark an analysed job finished with its files and summary; False if it was not analysing."""
    return transition(
        session,
        job_id=job_id,
        to=BriefStatus.FINISHED,
        from_=[BriefStatus.ANALYSING],
        now=now,
        zip_path=zip_path,
        summary=summary,
    )


def fail_brief(session: Session, *, job_id: int, error: str, now: datetime | None = None) -> bool:
    """Mark an unfinished job failed with the reason."""
    return transition(
        session, job_id=job_id, to=BriefStatus.FAILED, from_=UNFINISHED, now=now, last_error=error[:4000]
    )


ARTICLE_COLUMNS = [getattr(BriefArticle, field.name) for field in fields(Article)]


def job_articles(
    session: Session,
    *,
    job_id: int,
    platform: str | None = None,
    keyword: str | None = None,
    text: str | None = None,
    order_by: str = "interaction",
    limit: int | None = None,
) -> list[Article]:
    """The job's articles, optionally of one platform or keyword or containing ``text``, best first."""
    query = select(*ARTICLE_COLUMNS).where(BriefArticle.job_id == job_id)
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


def job_accounts(session: Session, *, job_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """The job's accounts, most interaction first."""
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
        .where(a.job_id == job_id)
        .order_by(a.interaction.desc(), a.user_name)
        .limit(limit)
    )
    return [row._asdict() for row in rows]


def job_searches(session: Session, *, job_id: int) -> list[dict[str, Any]]:
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
        .where(s.job_id == job_id)
        .order_by(s.id)
    )
    return [row._asdict() for row in rows]


def platform_totals(session: Session, *, job_id: int) -> list[dict[str, Any]]:
    """Per platform: the job's articles and their engagement sums."""
    a = BriefArticle
    sums = [func.sum(getattr(a, name)).label(name) for name in COUNT_FIELDS]
    rows = session.execute(
        select(a.platform, func.count().label("articles"), *sums)
        .where(a.job_id == job_id)
        .group_by(a.platform)
        .order_by(a.platform)
    )
    return [row._asdict() for row in rows]


def articles_per_day(session: Session, *, job_id: int) -> list[tuple[str, date, int]]:
    """(platform, day, articles) for the job, days in UTC; articles without a time are left out."""
    rows = session.execute(
        select(BriefArticle.platform, BriefArticle.post_time).where(
            BriefArticle.job_id == job_id, BriefArticle.post_time.is_not(None)
        )
    )
    counts: dict[tuple[str, date], int] = {}
    for platform, post_time in rows:
        key = (platform, post_time.date())
        counts[key] = counts.get(key, 0) + 1
    return sorted((platform, day, n) for (platform, day), n in counts.items())


def _summary(job: BriefJob) -> BriefSummary:
    return BriefSummary(**{field.name: getattr(job, field.name) for field in fields(BriefSummary)})


def get_brief(session: Session, *, job_id: int) -> BriefSummary | None:
    """One job, or None."""
    job = session.get(BriefJob, job_id)
    return _summary(job) if job else None


def list_briefs(
    session: Session,
    *,
    keyword: str | None = None,
    status: BriefStatus | None = None,
    submitted_from: datetime | None = None,
    submitted_until: datetime | None = None,
    limit: int = 100,
) -> list[BriefSummary]:
    """Jobs newest first, optionally with a keyword containing ``keyword``, a status, a submission range."""
    query = select(BriefJob).order_by(BriefJob.id.desc())
    if keyword:
        query = query.where(
            BriefJob.id.in_(
                select(BriefSearch.job_id).where(BriefSearch.keyword.contains(keyword, autoescape=True))
            )
        )
    if status:
        query = query.where(BriefJob.status == status)
    if submitted_from:
        query = query.where(BriefJob.submitted_at >= submitted_from)
    if submitted_until:
        query = query.where(BriefJob.submitted_at < submitted_until)
    return [_summary(job) for job in session.scalars(query.limit(limit))]


def count_by_status(session: Session) -> dict[BriefStatus, int]:
    """Jobs counted by status, every status present."""
    counts = dict(session.execute(select(BriefJob.status, func.count()).group_by(BriefJob.status)).all())
    return {status: counts.get(status, 0) for status in BriefStatus}
