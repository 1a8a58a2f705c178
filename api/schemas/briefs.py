"""Briefs (keywords searched on platforms, collected and analysed into a zip), their searches,
articles and accounts, as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import UtcDatetime, text
from core.settings import PLATFORMS
from db.briefs import BriefStatus, SearchStatus

Keyword = Annotated[str, text(64, 1)]
Platform = Literal[PLATFORMS]  # type: ignore[valid-type]


class BriefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keywords: list[Keyword] = Field(
        min_length=1, max_length=100, description="what to search for (at most the configured number)"
    )
    platforms: list[Platform] | None = Field(
        None, min_length=1, max_length=len(PLATFORMS), description="where to search; none given: all five"
    )
    since: UtcDatetime | None = Field(None, description="only articles posted from this time")
    until: UtcDatetime | None = Field(None, description="and before this time")


class BriefCreated(BaseModel):
    id: int
    keywords: list[str] = Field(description="the keywords as stored (cleaned, without duplicates)")
    platforms: list[str]
    since: datetime | None
    until: datetime | None
    searches: int = Field(description="one per platform × keyword")
    run: str = Field(description="what happened to the collection run, in words")


class BriefOut(BaseModel):
    id: int
    keywords: list[str]
    platforms: list[str]
    since: datetime | None
    until: datetime | None
    status: BriefStatus
    label: str = Field(
        description='the status as people read it: "finished (partial)" when searches came up short'
    )
    created_at: datetime
    started_at: datetime | None
    collected_at: datetime | None
    finished_at: datetime | None
    attempts: int
    last_error: str | None
    articles: int
    zip_ready: bool = Field(description="GET /briefs/{id}/zip gives the archive")


class SearchOut(BaseModel):
    platform: str
    keyword: str
    status: SearchStatus
    pages: int
    articles: int
    malformed: int
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class Progress(BaseModel):
    searches: int
    finished: int = Field(description="searches done, partial or failed")
    by_status: dict[SearchStatus, int]


class PlatformTotal(BaseModel):
    platform: str
    articles: int
    like: int
    read: int
    share: int
    comment: int
    collect: int
    play: int
    danmu: int
    download: int
    interaction: int


class BriefDetail(BriefOut):
    stage: Literal["waiting", "collecting", "analysing", "finished", "failed"] = Field(
        description="waiting (for the next run), collecting, analysing, finished, failed"
    )
    progress: Progress
    searches: list[SearchOut] = Field(description="progress per platform × keyword")
    platforms_totals: list[PlatformTotal] = Field(description="articles and engagement sums per platform")
    summary: dict[str, Any] | None = Field(description="the analysis' summary, once finished")


class BriefRecollected(BaseModel):
    id: int
    searches: int = Field(description="the partial and failed searches that run again")
    run: str


class ArticleOut(BaseModel):
    platform: str
    external_id: str
    url: str
    title: str
    content: str
    post_time: datetime | None
    like: int
    read: int
    share: int
    comment: int
    collect: int
    play: int
    danmu: int
    download: int
    interaction: int
    user_id: str
    user_name: str
    user_fans: int
    user_fans_level: str
    topics: list[str]
    keyword: str


class AccountOut(BaseModel):
    platform: str
    user_name: str
    user_fans: int
    user_fans_level: str
    articles: int
    like: int
    read: int
    share: int
    comment: int
    interaction: int
