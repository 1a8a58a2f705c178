"""Word-count requests and their pages: models, status transitions and queries.

A request holds a word and one or many URLs; each URL is a page job that goes
not_started → pending (claimed, with a lease) → finished | failed, and a failed page back to
not_started when it is to be counted again. This module owns those transitions. Functions take a
keyword-only ``session`` and never commit: the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.settings import IPNetwork
from core.urls import RefusedURL, check_url
from db import jobs
from db.base import Base, UTCDateTime, status_enum, utcnow
from db.claims import Lease, renew_claims
from db.jobs import JobColumns
from rules.wordcount import normalise_word


class PageStatus(StrEnum):
    NOT_STARTED = "not_started"
    PENDING = "pending"
    FINISHED = "finished"
    FAILED = "failed"


class CountRequest(Base):
    """A word to count on one or many web pages."""

    __tablename__ = "count_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32), default="flow")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pages: Mapped[list[PageJob]] = relationship(back_populates="request", order_by="PageJob.id")


class PageJob(JobColumns, Base):
    """One URL of a request: its status, times, claim, and the result of counting."""

    __tablename__ = "page_jobs"
    __table_args__ = (Index("ix_page_jobs_status_claimed_until", "status", "claimed_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("count_requests.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[PageStatus] = mapped_column(status_enum(PageStatus), default=PageStatus.NOT_STARTED)
    count: Mapped[int | None] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(255))
    charset: Mapped[str | None] = mapped_column(String(40))
    bytes_read: Mapped[int | None] = mapped_column(Integer)
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)

    request: Mapped[CountRequest] = relationship(back_populates="pages")


@dataclass(frozen=True)
class CreatedRequest:
    id: int
    word: str
    accepted: int
    refused: dict[str, str]


@dataclass(frozen=True)
class PageToFetch:
    id: int
    url: str
    word: str


@dataclass(frozen=True)
class PageOutcome:
    """What fetching and counting one page came to; ``error`` set means failed."""

    id: int
    count: int | None = None
    http_status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    charset: str | None = None
    bytes_read: int | None = None
    elapsed_ms: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class RequestSummary:
    id: int
    word: str
    source: str
    created_at: datetime
    total: int
    not_started: int
    pending: int
    finished: int
    failed: int
    refused: int  # of the failed: refused when the request was stored, never fetched

    @property
    def done(self) -> bool:
        return self.not_started + self.pending == 0

    @property
    def recountable(self) -> int:
        """Failed pages that were fetched, and so may be counted again."""
        return self.failed - self.refused


def create_request(
    session: Session,
    *,
    urls: Sequence[str],
    word: str,
    source: str = "flow",
    allowed: Sequence[IPNetwork] = (),
    max_urls: int = 10_000,
) -> CreatedRequest:
    """Store a request; URLs that can never be fetched are stored at once as failed with the reason.

    URLs are normalised first (``core.urls.check_url``), so two spellings of one page are one page;
    refused URLs are kept as given. Raises ValueError for a bad word, no URLs, or more than
    ``max_urls`` distinct pages: nothing is stored then.
    """
    word = normalise_word(word)
    pages: dict[str, str | None] = {}  # URL to store, and why it is refused (None: to be fetched)
    for url in (url.strip() for url in urls if url.strip()):
        try:
            pages.setdefault(check_url(url, allowed), None)
        except RefusedURL as exc:
            pages.setdefault(url, str(exc))
    if not pages:
        raise ValueError("no URLs given")
    if len(pages) > max_urls:
        raise ValueError(f"{len(pages)} URLs given; at most {max_urls} per request")
    request = CountRequest(word=word, source=source)
    session.add(request)
    session.flush()
    now = utcnow()
    session.execute(
        PageJob.__table__.insert(),
        [
            {
                "request_id": request.id,
                "url": url,
                "created_at": now,
                "status": PageStatus.FAILED if refusal else PageStatus.NOT_STARTED,
                "finished_at": now if refusal else None,
                "last_error": f"refused: {refusal}" if refusal else None,
            }
            for url, refusal in pages.items()
        ],
    )
    refused = {url: reason for url, reason in pages.items() if reason is not None}
    return CreatedRequest(id=request.id, word=word, accepted=len(pages) - len(refused), refused=refused)


WORKING = (PageStatus.PENDING,)
# Pages refused when their request was stored: failed without ever being claimed.
REFUSED = and_(PageJob.status == PageStatus.FAILED, PageJob.attempts == 0)


def _claimable(now: datetime, max_attempts: int) -> ColumnElement[bool]:
    return and_(
        or_(PageJob.status == PageStatus.NOT_STARTED, jobs.lease_lapsed(PageJob, WORKING, now)),
        PageJob.attempts < max_attempts,
    )


def fail_abandoned(session: Session, *, max_attempts: int, now: datetime | None = None) -> int:
    """Fail pages whose lease ran out ``max_attempts`` times (their worker keeps dying on them)."""
    return jobs.fail_abandoned(
        session,
        PageJob,
        working=WORKING,
        failed=PageStatus.FAILED,
        max_attempts=max_attempts,
        error=f"gave up: claimed {max_attempts} times without a result (worker lost)",
        now=now,
    )


def claim_pages(
    session: Session,
    *,
    limit: int,
    lease: Lease,
    max_attempts: int,
    request_id: int | None = None,
    now: datetime | None = None,
) -> list[PageToFetch]:
    """Claim up to ``limit`` pages (of one request, or any) for fetching, with a lease."""
    now = now or utcnow()
    claimable = _claimable(now, max_attempts)
    if request_id is not None:
        claimable = and_(claimable, PageJob.request_id == request_id)
    ids = jobs.claim(
        session, PageJob, claimable=claimable, working=PageStatus.PENDING, lease=lease, limit=limit, now=now
    )
    if not ids:
        return []
    rows = session.execute(
        select(PageJob.id, PageJob.url, CountRequest.word)
        .join(CountRequest, CountRequest.id == PageJob.request_id)
        .where(PageJob.id.in_(ids))
        .order_by(PageJob.id)
    )
    return [PageToFetch(id=row.id, url=row.url, word=row.word) for row in rows]


def requeue_failed(session: Session, *, request_id: int, now: datetime | None = None) -> int:
    """Put the fetched-and-failed pages of a request back to not_started with no attempts; returns how
    many. Their last result stays until they are counted again; pages refused when the request was
    stored stay failed (they would be refused the same way)."""
    return jobs.transition(
        session,
        PageJob,
        where=and_(PageJob.request_id == request_id, ~REFUSED),
        to=PageStatus.NOT_STARTED,
        from_=[PageStatus.FAILED],
        terminal=False,
        now=now or utcnow(),
        attempts=0,
        started_at=None,
        finished_at=None,
    )


def renew_pages(
    session: Session, *, ids: Sequence[int], lease: Lease, now: datetime | None = None
) -> set[int]:
    """Extend the lease on the pages of ``ids`` still being fetched under ``lease``; returns those."""
    return renew_claims(
        session,
        id_column=PageJob.id,
        held=PageJob.status.in_(WORKING),
        ids=ids,
        lease=lease,
        now=now or utcnow(),
    )


def record_outcomes(
    session: Session, *, outcomes: Sequence[PageOutcome], now: datetime | None = None
) -> None:
    """Write a batch of outcomes in one executemany: finished with a count, or failed with the error."""
    if not outcomes:
        return
    now = now or utcnow()
    table = PageJob.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("page_id"))
        .values(
            status=bindparam("new_status"),
            finished_at=bindparam("finished"),
            claimed_until=None,
            claimed_by=None,
            count=bindparam("page_count"),
            http_status=bindparam("page_http_status"),
            final_url=bindparam("page_final_url"),
            content_type=bindparam("page_content_type"),
            charset=bindparam("page_charset"),
            bytes_read=bindparam("page_bytes_read"),
            elapsed_ms=bindparam("page_elapsed_ms"),
            last_error=bindparam("page_error"),
        )
    )
    session.execute(
        statement,
        [
            {
                "page_id": outcome.id,
                "new_status": (PageStatus.FAILED if outcome.error else PageStatus.FINISHED).value,
                "finished": now,
                "page_count": outcome.count,
                "page_http_status": outcome.http_status,
                "page_final_url": outcome.final_url,
                "page_content_type": (outcome.content_type or None) and outcome.content_type[:255],
                "page_charset": outcome.charset,
                "page_bytes_read": outcome.bytes_read,
                "page_elapsed_ms": outcome.elapsed_ms,
                "page_error": outcome.error,
            }
            for outcome in outcomes
        ],
    )


def count_unfinished(session: Session, *, request_id: int | None = None) -> int:
    """Pages not yet finished or failed."""
    statement = select(func.count()).where(PageJob.status.in_([PageStatus.NOT_STARTED, PageStatus.PENDING]))
    if request_id is not None:
        statement = statement.where(PageJob.request_id == request_id)
    return session.scalar(statement) or 0


def _count_where(condition: ColumnElement[bool]) -> object:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def list_requests(
    session: Session, *, limit: int = 50, request_ids: Sequence[int] | None = None, offset: int = 0
) -> list[RequestSummary]:
    """Newest requests first (from ``offset``), with their pages counted by status."""
    statement = (
        select(
            CountRequest.id,
            CountRequest.word,
            CountRequest.source,
            CountRequest.created_at,
            func.count(PageJob.id),
            *(_count_where(PageJob.status == status) for status in PageStatus),
            _count_where(REFUSED),
        )
        .outerjoin(PageJob, PageJob.request_id == CountRequest.id)
        .group_by(CountRequest.id)
        .order_by(CountRequest.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if request_ids is not None:
        statement = statement.where(CountRequest.id.in_(request_ids))
    return [
        RequestSummary(
            id=row[0],
            word=row[1],
            source=row[2],
            created_at=row[3],
            total=row[4],
            not_started=row[5],
            pending=row[6],
            finished=row[7],
            failed=row[8],
            refused=row[9],
        )
        for row in session.execute(statement)
    ]


def request_pages(
    session: Session, *, request_id: int, limit: int | None = None, offset: int = 0
) -> list[PageJob]:
    """The pages of one request in the order given: all of them, or ``limit`` from ``offset``."""
    statement = (
        select(PageJob)
        .where(PageJob.request_id == request_id)
        .order_by(PageJob.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(statement))


def count_requests(session: Session) -> int:
    """How many word-count requests there are."""
    return session.scalar(select(func.count()).select_from(CountRequest)) or 0


def status_totals(session: Session) -> dict[PageStatus, int]:
    """All pages counted by status (every status present, zero where none)."""
    totals = dict.fromkeys(PageStatus, 0)
    for status, total in session.execute(select(PageJob.status, func.count()).group_by(PageJob.status)):
        totals[PageStatus(status)] = total
    return totals
