"""Web-page word-count requests and their pages, as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.pagination import Page
from api.schemas.common import text
from db.webpages import PageStatus

Url = Annotated[str, text(2048, 1)]


class WordCountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[Url] = Field(min_length=1, max_length=10_000, description="the pages to count the word on")
    word: Annotated[str, text(100, 1)] = Field(description="the word to count")


class WordCountCreated(BaseModel):
    id: int
    word: str
    accepted: int = Field(description="distinct pages to fetch")
    refused: dict[str, str] = Field(description="URLs refused (private addresses, bad URLs), with why")
    run: str = Field(description="what happened to the counting run, in words")


class WordCountOut(BaseModel):
    id: int
    word: str
    source: str
    created_at: datetime
    total: int
    not_started: int
    pending: int
    finished: int
    failed: int
    refused: int


class PageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    status: PageStatus
    count: int | None
    http_status: int | None
    final_url: str | None
    content_type: str | None
    charset: str | None
    bytes_read: int | None
    elapsed_ms: int | None
    attempts: int
    last_error: str | None
    finished_at: datetime | None


class WordCountDetail(WordCountOut):
    pages: Page[PageOut]
