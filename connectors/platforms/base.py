"""The interface every platform's search API implements, and the records it answers with."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from connectors.platforms.fields import JsonObject, _as_object
from rules.briefs import Article


@dataclass(frozen=True)
class SearchPage:
    """One page of search results: the articles that mapped, and why the others were skipped."""

    articles: list[Article]
    malformed: list[str]  # one reason per skipped item
    total_pages: int | None  # when the platform says (or says enough to work it out)
    has_more: bool
    served: int  # items in the answer, mapped or not: the platform's page size when it has more


class PlatformError(Exception):
    """A search page the platform did not answer; `transient` ones are worth another try."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after  # seconds the platform asked to wait (Retry-After)

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable with its fields (Prefect may persist a task's exception)."""
        rebuild = partial(type(self), transient=self.transient, retry_after=self.retry_after)
        return (rebuild, (str(self),))


@dataclass(frozen=True)
class SearchQuery:
    """One search page asked for; articles are kept when ``since <= post_time < until``."""

    keyword: str
    page: int = 1
    page_size: int = 20
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if not self.keyword.strip():
            raise ValueError("keyword must not be empty")
        if self.page < 1 or self.page_size < 1:
            raise ValueError("page and page_size must be at least 1")
        for bound in (self.since, self.until):
            if bound is not None and bound.utcoffset() is None:
                raise ValueError("since and until must be timezone-aware")

    def covers(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment < self.until)


MAX_DETAIL_CHARS = 200


MESSAGE_KEYS = ("msg", "message", "status_msg", "errmsg")


@dataclass(frozen=True)
class Listing:
    """A search answer's raw items and paging, before the items are mapped."""

    items: list[object]
    total_pages: int | None
    has_more: bool


class PlatformApi(ABC):
    """How one platform's search API is asked, and how its answer maps to `Article`s."""

    name: ClassVar[str]
    path: ClassVar[str]
    status_key: ClassVar[str]  # the envelope field that says whether the search succeeded
    ok: ClassVar[object]  # its value on success
    keyword_param: ClassVar[str] = "keyword"
    page_param: ClassVar[str] = "page"
    size_param: ClassVar[str] = "page_size"
    since_param: ClassVar[str]
    until_param: ClassVar[str]
    time_unit: ClassVar[int] = 1  # since/until are sent in seconds (1) or milliseconds (1000)
    max_page_size: ClassVar[int] = 50

    def page_size(self, query: SearchQuery) -> int:
        """The page size actually asked for: the platform serves at most `max_page_size`."""
        return min(query.page_size, self.max_page_size)

    def params(self, query: SearchQuery) -> dict[str, str]:
        """The query string; the time window is widened to whole units, `parse` then filters exactly."""
        size = self.page_size(query)
        params = {
            self.keyword_param: query.keyword,
            self.page_param: str(self._page_value(query.page, size)),
            self.size_param: str(size),
        }
        if query.since is not None:
            params[self.since_param] = str(math.floor(query.since.timestamp() * self.time_unit))
        if query.until is not None:
            params[self.until_param] = str(math.ceil(query.until.timestamp() * self.time_unit))
        return params

    def _page_value(self, page: int, size: int) -> int:
        return page

    def parse(self, body: object, query: SearchQuery) -> SearchPage:
        """Map a search answer's JSON; PlatformError when it is not this platform's search result."""
        try:
            listing = self._listing(self._succeeded(body), query)
        except ValueError as exc:
            raise PlatformError(f"{self.name}: malformed search result: {exc}", transient=True) from exc
        articles: list[Article] = []
        malformed: list[str] = []
        for position, item in enumerate(listing.items, 1):
            try:
                article = self._article(_as_object(item, "item"))
            except (ValueError, TypeError, LookupError, AttributeError) as exc:
                reason = str(exc) if isinstance(exc, ValueError) else f"unexpected shape ({exc!r})"
                malformed.append(f"{self.name} page {query.page} item {position}: {reason}")
                continue
            if query.covers(article.post_time):
                articles.append(article)
        return SearchPage(articles, malformed, listing.total_pages, listing.has_more, len(listing.items))

    def _succeeded(self, body: object) -> JsonObject:
        """The answer as a JSON object whose status field says success, else PlatformError."""
        if not isinstance(body, dict) or self.status_key not in body:
            raise PlatformError(f"{self.name}: the answer is not a {self.name} search result", transient=True)
        if body[self.status_key] != self.ok:
            raise PlatformError(
                f"{self.name} answered {self.status_key}={body[self.status_key]!r}{_message(body)}",
                transient=True,
            )
        return body

    @abstractmethod
    def _listing(self, body: JsonObject, query: SearchQuery) -> Listing:
        """The raw items and paging of a successful answer; ValueError when they are not there."""

    @abstractmethod
    def _article(self, item: JsonObject) -> Article:
        """One item as an `Article`; ValueError (with the reason) when it does not map."""


def _message(body: object) -> str:
    """The platform's own error message, if its answer has one, after ": "."""
    if not isinstance(body, dict):
        return ""
    message = next((body[key] for key in MESSAGE_KEYS if body.get(key)), None)
    return f": {str(message)[:MAX_DETAIL_CHARS]}" if message is not None else ""
