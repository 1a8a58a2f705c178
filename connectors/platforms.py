"""The five content platforms' search APIs behind one interface, each answer mapped to common fields.

`search` asks one page of one platform's keyword search (a client from `platform_client`: base URL,
API key header, timeouts and connection limit from ``settings.platforms.<name>`` and
``settings.briefs``). Every item is mapped on its own: an item that does not map is skipped with a
reason in `SearchPage.malformed`, never failing its page. Trouble with the page itself raises a
`PlatformError`, marked transient when another try may help. The API key never appears in errors.
"""

from __future__ import annotations

import html
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar

import aiohttp
import httpx

from core.counts import fans_level, parse_count
from core.http import async_client, describe_transport_error, parse_retry_after
from core.secrets import redact
from core.settings import PLATFORMS, BriefSettings, PlatformSettings
from rules.briefs import PAIRED_HASHTAG_RE, Article


@dataclass(frozen=True)
class SearchPage:
    """One page of search results: the articles that mapped, and why the others were skipped."""

    articles: list[Article]
    malformed: list[str]  # one reason per skipped item
    total_pages: int | None  # when the platform says (or says enough to work it out)
    has_more: bool


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


JsonObject = dict[str, Any]

KEY_HEADER = "X-API-Key"
USER_AGENT = "Switchyard/0.1 (+briefs)"
REDACTED = "[api key]"
MAX_RETRY_AFTER = 60.0
MAX_DETAIL_CHARS = 200
MESSAGE_KEYS = ("msg", "message", "status_msg", "errmsg")
LINE_BREAK = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)
TAG = re.compile(r"<[^>]*>")
WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"


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
        return SearchPage(articles, malformed, listing.total_pages, listing.has_more)

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


class WeiboApi(PlatformApi):
    """Weibo: ``{"ok": 1, "data": {"cards": [{"card_type": 9, "mblog": {...}}], "cardlistInfo"}}``."""

    name = "weibo"
    path = "/search/statuses"
    status_key = "ok"
    ok = 1
    keyword_param = "q"
    size_param = "count"
    since_param = "starttime"
    until_param = "endtime"

    def _listing(self, body: JsonObject, query: SearchQuery) -> Listing:
        data = _as_object(body.get("data"), "data")
        info = _optional_object(data, "cardlistInfo")
        cards = [
            card
            for card in _array(data, "cards")
            if not isinstance(card, dict) or card.get("card_type") == 9  # other cards are not posts
        ]
        total = _optional_count(info, "total", "total")
        return Listing(cards, _pages(total, self.page_size(query)), info.get("page") is not None)

    def _article(self, item: JsonObject) -> Article:
        mblog = _as_object(item.get("mblog"), "mblog")
        user = _optional_object(mblog, "user")
        external_id = _identifier(mblog, "id")
        content = _text(mblog, "text")
        article = Article(
            platform=self.name,
            external_id=external_id,
            url=f"https://m.weibo.cn/detail/{external_id}",
            title="",
            content=content,
            post_time=_weibo_time(mblog, "created_at"),
            like=_count(mblog, "attitudes_count", "like"),
            share=_count(mblog, "reposts_count", "share"),
            comment=_count(mblog, "comments_count", "comment"),
            user_id=_optional_identifier(user, "id"),
            user_name=_text(user, "screen_name"),
            user_fans=_count(user, "followers_count", "fans"),
            topics=_topics(PAIRED_HASHTAG_RE.findall(content)),
        )
        return _completed(article)


class WeixinApi(PlatformApi):
    """Weixin articles: ``{"code": 0, "msg": "ok", "data": {"list": [...], "has_next", "total"}}``."""

    name = "weixin"
    path = "/api/search/articles"
    status_key = "code"
    ok = 0
    since_param = "start_time"
    until_param = "end_time"

    def _listing(self, body: JsonObject, query: SearchQuery) -> Listing:
        data = _as_object(body.get("data"), "data")
        total = _optional_count(data, "total", "total")
        return Listing(_array(data, "list"), _pages(total, self.page_size(query)), bool(data.get("has_next")))

    def _article(self, item: JsonObject) -> Article:
        account = _optional_object(item, "account")
        content = _text(item, "content") or _text(item, "digest")
        article = Article(
            platform=self.name,
            external_id=_identifier(item, "article_id"),
            url=_text(item, "url"),
            title=_text(item, "title"),
            content=content,
            post_time=_epoch(item, "publish_time"),
            read=_count(item, "read_num", "read"),
            like=_count(item, "like_num", "like"),
            share=_count(item, "share_num", "share"),
            comment=_count(item, "comment_num", "comment"),
            user_id=_optional_identifier(account, "biz"),
            user_name=_text(account, "nickname"),
            user_fans=_count(account, "fans", "fans"),
            topics=_topics(PAIRED_HASHTAG_RE.findall(content)),
        )
        return _completed(article, interaction=_optional_count(item, "interact_num", "interaction"))


class XiaohongshuApi(PlatformApi):
    """Xiaohongshu notes: ``{"success": true, "data": {"items": [...], "has_more", "cursor"}}``."""

    name = "xiaohongshu"
    path = "/api/sns/web/v1/search/notes"
    status_key = "success"
    ok = True
    since_param = "begin_ms"
    until_param = "end_ms"
    time_unit = 1000

    def _listing(self, body: JsonObject, query: SearchQuery) -> Listing:
        data = _as_object(body.get("data"), "data")
        return Listing(_array(data, "items"), None, bool(data.get("has_more")))

    def _article(self, item: JsonObject) -> Article:
        info = _optional_object(item, "interact_info")
        user = _optional_object(item, "user")
        external_id = _identifier(item, "note_id")
        article = Article(
            platform=self.name,
            external_id=external_id,
            url=f"https://www.xiaohongshu.com/explore/{external_id}",
            title=_text(item, "title"),
            content=_text(item, "desc"),
            post_time=_epoch(item, "time", unit=1000),
            like=_count(info, "liked_count", "like"),
            collect=_count(info, "collected_count", "collect"),
            comment=_count(info, "comment_count", "comment"),
            share=_count(info, "share_count", "share"),
            user_id=_optional_identifier(user, "user_id"),
            user_name=_text(user, "nickname"),
            user_fans=_count(user, "fans", "fans"),
            topics=_topics(_names(_array(item, "tag_list"), "name")),
        )
        return _completed(article, level=_text(_optional_object(user, "level"), "name"))


class DouyinApi(PlatformApi):
    """Douyin videos: ``{"status_code": 0, "aweme_list": [...], "has_more": 1, "cursor": N}`` (offset)."""

    name = "douyin"
    path = "/aweme/v1/web/search/item"
    status_key = "status_code"
    ok = 0
    page_param = "cursor"
    size_param = "count"
    since_param = "publish_start"
    until_param = "publish_end"

    def _page_value(self, page: int, size: int) -> int:
        return (page - 1) * size  # douyin pages by an offset cursor

    def _listing(self, body: JsonObject, query: SearchQuery) -> Listing:
        return Listing(_array(body, "aweme_list"), None, bool(body.get("has_more")))

    def _article(self, item: JsonObject) -> Article:
        statistics = _optional_object(item, "statistics")
        author = _optional_object(item, "author")
        external_id = _identifier(item, "aweme_id")
        article = Article(
            platform=self.name,
            external_id=external_id,
            url=_text(item, "share_url") or f"https://www.douyin.com/video/{external_id}",
            title="",
            content=_text(item, "desc"),
            post_time=_epoch(item, "create_time"),
            like=_count(statistics, "digg_count", "like"),
            comment=_count(statistics, "comment_count", "comment"),
            share=_count(statistics, "share_count", "share"),
            play=_count(statistics, "play_count", "play"),
            collect=_count(statistics, "collect_count", "collect"),
            download=_count(statistics, "download_count", "download"),
            user_id=_optional_identifier(author, "uid"),
            user_name=_text(author, "nickname"),
            user_fans=_count(author, "follower_count", "fans"),
            topics=_topics(_names(_array(item, "text_extra"), "hashtag_name")),
        )
        return _completed(article)


class BilibiliApi(PlatformApi):
    """Bilibili videos: ``{"code": 0, "data": {"page", "numPages", "numResults", "result": [...]}}``."""

    name = "bilibili"
    path = "/x/web-interface/search/type"
    status_key = "code"
    ok = 0
    since_param = "pubtime_begin_s"
    until_param = "pubtime_end_s"

    def _listing(self, body: JsonObject, query: SearchQuery) -> Listing:
        data = _as_object(body.get("data"), "data")
        pages = _optional_count(data, "numPages", "numPages")
        has_more = pages is not None and query.page < pages
        return Listing(_array(data, "result"), pages, has_more)

    def _article(self, item: JsonObject) -> Article:
        article = Article(
            platform=self.name,
            external_id=_identifier(item, "bvid"),
            url=_text(item, "arcurl"),
            title=_text(item, "title"),
            content=_text(item, "description"),
            post_time=_epoch(item, "pubdate"),
            play=_count(item, "play", "play"),
            danmu=_count(item, "danmaku", "danmu"),
            collect=_count(item, "favorites", "collect"),
            like=_count(item, "like", "like"),
            comment=_count(item, "review", "comment"),
            user_id=_optional_identifier(item, "mid"),
            user_name=_text(item, "author"),
            topics=_topics(_text(item, "tag").split(",")),
        )
        return _completed(article, fans_known=False)  # bilibili's search does not give followers


PLATFORM_APIS: dict[str, PlatformApi] = {
    api.name: api for api in (WeiboApi(), WeixinApi(), XiaohongshuApi(), DouyinApi(), BilibiliApi())
}
assert tuple(PLATFORM_APIS) == PLATFORMS, "one API per platform of core.settings.PLATFORMS"


def api_of(platform: str) -> PlatformApi:
    """The search API of `platform`, or ValueError naming the known ones."""
    try:
        return PLATFORM_APIS[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}: expected one of {', '.join(PLATFORMS)}") from None


def platform_client(platform: str, settings: PlatformSettings, brief: BriefSettings) -> httpx.AsyncClient:
    """A client for `platform`: base URL, API key header, timeouts, ``settings.concurrency`` connections."""
    api_of(platform)
    return async_client(
        max_connections=settings.concurrency,
        timeout=httpx.Timeout(brief.read_timeout, connect=brief.connect_timeout, pool=None),
        base_url=settings.base_url,
        headers={KEY_HEADER: settings.api_key.get_secret_value(), "User-Agent": USER_AGENT},
    )


async def search(
    client: httpx.AsyncClient,
    platform: str,
    keyword: str,
    page: int,
    *,
    page_size: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SearchPage:
    """One page (from 1) of `platform`'s search for `keyword`, posted in ``[since, until)``.

    Raises PlatformError when the page cannot be had; ValueError for a bad query.
    """
    api = api_of(platform)
    query = SearchQuery(keyword, page, page_size, since, until)
    try:
        response = await client.get(api.path, params=api.params(query))
    except (httpx.RequestError, aiohttp.ClientError, OSError) as exc:
        raise PlatformError(f"{platform}: {describe_transport_error(exc)}", transient=True) from exc
    return api.parse(_answer(platform, response, client.headers.get(KEY_HEADER, "")), query)


def _answer(platform: str, response: httpx.Response, key: str) -> object:
    """The JSON of a successful answer (None if it is not JSON), else the PlatformError it means."""
    text = redact(response.text, key, REDACTED)
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    status = response.status_code
    if status < 300:
        return body
    reason = f"HTTP {status}{_message(body)}"
    if status in (401, 403):
        raise PlatformError(f"{platform} refused the API key ({reason})", transient=False)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        capped = None if retry_after is None else min(retry_after, MAX_RETRY_AFTER)
        raise PlatformError(f"{platform} is unavailable ({reason})", transient=True, retry_after=capped)
    raise PlatformError(f"{platform} rejected the search ({reason})", transient=False)


def _message(body: object) -> str:
    """The platform's own error message, if its answer has one, after ": "."""
    if not isinstance(body, dict):
        return ""
    message = next((body[key] for key in MESSAGE_KEYS if body.get(key)), None)
    return f": {str(message)[:MAX_DETAIL_CHARS]}" if message is not None else ""


def _completed(
    article: Article, *, interaction: int | None = None, level: str = "", fans_known: bool = True
) -> Article:
    """`article` with its interaction (the platform's, else the sum) and fans level filled in.

    The level is the platform's own, else the bucket of the follower count; none when the platform
    does not say how many followers the account has (``fans_known=False``).
    """
    if interaction is None:
        interaction = article.like + article.share + article.comment + article.collect + article.danmu
    if not level and fans_known:
        level = fans_level(article.user_fans)
    return replace(article, interaction=interaction, user_fans_level=level)


def _as_object(value: object, what: str) -> JsonObject:
    if value is None:
        raise ValueError(f"{what} is missing")
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _optional_object(parent: JsonObject, key: str) -> JsonObject:
    """``parent[key]`` as an object; absent or null is empty."""
    value = parent.get(key)
    return {} if value is None else _as_object(value, key)


def _array(parent: JsonObject, key: str) -> list[object]:
    """``parent[key]`` as a list; absent or null is empty."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key} is not a list")
    return value


def _identifier(parent: JsonObject, key: str) -> str:
    """A required id: a non-empty string or an integer."""
    value = _optional_identifier(parent, key)
    if not value:
        raise ValueError(f"{key} is missing")
    return value


def _optional_identifier(parent: JsonObject, key: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key} {value!r} is not an id")
    return str(value).strip()


def _text(parent: JsonObject, key: str) -> str:
    """Plain text: line breaks kept, other HTML tags dropped, references decoded; absent or null is empty."""
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} {value!r} is not text")
    return html.unescape(TAG.sub("", LINE_BREAK.sub("\n", value))).strip()


def _count(parent: JsonObject, key: str, label: str) -> int:
    """A count in any of the platforms' forms (see `parse_count`); absent is 0."""
    try:
        return parse_count(parent.get(key))
    except ValueError as exc:
        raise ValueError(f"{label} count {exc}") from None


def _optional_count(parent: JsonObject, key: str, label: str) -> int | None:
    return None if parent.get(key) is None else _count(parent, key, label)


def _pages(total: int | None, size: int) -> int | None:
    return None if total is None else -(-total // size)


def _names(entries: list[object], key: str) -> list[str]:
    """The `key` text of each object in `entries` (tags, hashtags)."""
    return [_text(_as_object(entry, "tag"), key) for entry in entries]


def _topics(names: Iterable[str]) -> tuple[str, ...]:
    """Topic names without their # marks, each once, in order."""
    cleaned = (name.strip().strip("#").strip() for name in names)
    return tuple(dict.fromkeys(name for name in cleaned if name))


def _epoch(parent: JsonObject, key: str, unit: int = 1) -> datetime:
    """A post time given as a Unix timestamp in seconds (`unit` 1) or milliseconds (1000), in UTC."""
    value = parent.get(key)
    if value is None:
        raise ValueError(f"post time {key} is missing")
    try:
        return datetime.fromtimestamp(float(value) / unit, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ValueError(f"post time {key} {value!r} is not a timestamp") from None


def _weibo_time(parent: JsonObject, key: str) -> datetime:
    """A weibo post time such as ``Tue Nov 24 10:00:00 +0800 2026``, in UTC."""
    value = parent.get(key)
    if value is None:
        raise ValueError(f"post time {key} is missing")
    try:
        return datetime.strptime(str(value), WEIBO_TIME).astimezone(UTC)
    except ValueError:
        raise ValueError(f"post time {key} {value!r} is not a weibo time") from None
