"""The brief tables: briefs, their searches (one per platform × keyword), articles and accounts."""

from __future__ import annotations

from datetime import datetime
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
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, status_enum, utcnow
from db.jobs import JobColumns

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


class Brief(JobColumns, Base):
    """A brief ordered by an analyst: keywords, platforms, an optional time range, and its progress."""

    __tablename__ = "brief_jobs"
    __table_args__ = (
        Index("ix_brief_jobs_status_claimed_until", "status", "claimed_until"),
        Index("ix_brief_jobs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    platforms: Mapped[list[str]] = mapped_column(JSON)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[BriefStatus] = mapped_column(status_enum(BriefStatus), default=BriefStatus.SUBMITTED)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
