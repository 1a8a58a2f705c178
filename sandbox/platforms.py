"""Stand-ins for the five content platforms' keyword search APIs, each in its own answer shape.

Mounted at ``/platforms``; ``GET /platforms/{name}{path}`` with the key ``config.platform_key`` in the
``X-API-Key`` header (else HTTP 401 in the platform's own error envelope). Every keyword finds
``config.platform_articles`` articles per platform, newest first, generated deterministically from
(``config.seed``, platform, keyword, index) with post times over the 30 days before today (UTC). Pages
hold at most 50 items; an optional time window (``since <= post_time < until``) is honoured.

Knobs, read on each request: ``platform_latency_ms`` delays every answer; one draw of ``app.state.rng``
per search answers HTTP 500, HTTP 429 (``Retry-After: 1``) or never, by the ``platform_error_rate``,
``platform_throttle_rate`` and ``platform_timeout_rate`` shares in that order;
``platform_malformed_rate`` of the items (always the same ones) come with a missing id, an unreadable
count or an unreadable post time. `expected_articles` and `expected_counts` say what a search finds.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router

from core.settings import SandboxSettings
from sandbox.webpages import _wait_unless_disconnected

JsonObject = dict[str, Any]

KEY_HEADER = "x-api-key"
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
WINDOW_SECONDS = 30 * 86_400
TIMEOUT_SECONDS = 600.0
CHINA = timezone(timedelta(hours=8))
WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"
BAD_COUNT = "abc"
BAD_TIME = "刚刚"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

TITLES = (
    "{kw}到底值不值得入手？用了一个月说说真实感受",
    "关于{kw}，这几点你一定要知道",
    "{kw}最新消息汇总，一文看懂",
    "第一次接触{kw}，踩过的坑都在这里了",
    "聊聊{kw}背后的故事",
    "{kw}测评：优缺点一次说清楚",
    "朋友推荐的{kw}，真的香",
    "为什么大家都在讨论{kw}？",
)
OPENINGS = (
    "今天终于体验了{kw}，整体感觉比预期好很多。",
    "最近身边好多人都在聊{kw}，我也来凑个热闹。",
    "{kw}这件事，我观察了很久，说几句心里话。",
    "刷到好几条关于{kw}的内容，忍不住整理了一下。",
    "有网友问我怎么看{kw}，这里统一回复一下。",
)
SENTENCES = (
    "价格方面还算合理，性价比不错。",
    "细节做得很用心，看得出团队下了功夫。",
    "不过也有一些小问题，希望后续能改进。",
    "周末带家人一起去了，孩子特别喜欢。",
    "身边的同事也开始关注了，讨论度很高。",
    "建议大家理性看待，不要盲目跟风。",
    "数据显示，相关话题的热度还在持续上升。",
    "欢迎在评论区分享你的看法。",
    "整体来说，我会推荐给朋友。",
    "后续有新进展我会继续更新。",
)
TOPICS = ("生活记录", "好物分享", "科技前沿", "旅行日记", "美食探店", "数码测评", "职场干货", "学习打卡")
NICK_HEADS = ("小", "阿", "大", "爱吃", "会飞的", "不睡觉的", "快乐的", "认真的")
NICK_TAILS = ("橙子", "团子", "土豆", "阿狸", "小鱼", "老王", "木木", "星星", "豆包", "糖糖")
XHS_LEVELS = (
    "薯宝宝",
    "尿布薯",
    "奶瓶薯",
    "困困薯",
    "泡泡薯",
    "甜筒薯",
    "小马薯",
    "铜冠薯",
    "银冠薯",
    "金冠薯",
)


@dataclass(frozen=True)
class Author:
    """An account that posts on one platform; several articles share each author."""

    id: str
    name: str
    fans: int
    level: str  # the platform's own level, where it has one ("" otherwise)


@dataclass(frozen=True)
class SandboxArticle:
    """One generated article, counts as the platform shows them (≥ 10000 rounded to thousands)."""

    index: int
    external_id: str
    title: str
    content: str
    topics: tuple[str, ...]
    post_time: datetime
    like: int
    share: int
    comment: int
    collect: int
    read: int  # at most 100000: weixin shows more as "10万+"
    play: int
    danmu: int
    download: int
    author: Author
    draw: float  # the item is served malformed when this is below ``platform_malformed_rate``

    @property
    def timestamp(self) -> int:
        return int(self.post_time.timestamp())

    def malformed(self, config: SandboxSettings) -> bool:
        return self.draw < config.platform_malformed_rate


@dataclass(frozen=True)
class Catalogue:
    """Every article of one keyword on one platform, newest first, with their negated timestamps."""

    articles: tuple[SandboxArticle, ...]
    keys: tuple[int, ...]  # -timestamp, ascending, for bisect

    def window(self, since: float | None, until: float | None) -> tuple[SandboxArticle, ...]:
        """The articles posted in ``[since, until)`` (Unix seconds; None is open)."""
        start = 0 if until is None else bisect.bisect_right(self.keys, -until)
        end = len(self.keys) if since is None else bisect.bisect_right(self.keys, -since)
        return self.articles[start:end]


@dataclass(frozen=True)
class Paging:
    """Where a served page sits in the list of articles that match."""

    page: int
    size: int
    offset: int
    total: int

    @property
    def pages(self) -> int:
        return -(-self.total // self.size)

    @property
    def has_more(self) -> bool:
        return self.offset + self.size < self.total


@dataclass(frozen=True)
class StandIn:
    """One platform's search endpoint: its query parameters, item and envelope shapes."""

    path: str
    keyword_param: str
    page_param: str  # a page number from 1, or with `offset_paging` an item offset from 0
    size_param: str
    since_param: str
    until_param: str
    time_unit: int  # 1: since/until in seconds, 1000: milliseconds
    id_style: tuple[str, str]  # of articles, of authors (see `_make_id`)
    item: Callable[[SandboxArticle, str], JsonObject]
    page: Callable[[list[JsonObject], Paging], JsonObject]
    error: Callable[[int, str], JsonObject]
    breakable: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # id, a count, the post time
    offset_paging: bool = False


def _short(count: int, unit: str) -> str:
    """A count as the platforms print it: "9527", "1.2万", "3.4w"."""
    return str(count) if count < 10_000 else f"{count / 10_000:.1f}{unit}"


def _wan(count: int) -> int | str:
    """An int below ten thousand, "x.x万" above (weibo's mixed style)."""
    return count if count < 10_000 else _short(count, "万")


def _weibo_item(article: SandboxArticle, keyword: str) -> JsonObject:
    links = "".join(
        f'<a href="https://m.weibo.cn/search?containerid=231522type%3D1%26q%3D%23{topic}%23">#{topic}#</a>'
        for topic in article.topics
    )
    author = article.author
    mblog = {
        "id": article.external_id,
        "mid": article.external_id,
        "text": f"{article.content}<br />{links}",
        "created_at": article.post_time.astimezone(CHINA).strftime(WEIBO_TIME),
        "reposts_count": article.share,
        "comments_count": article.comment,
        "attitudes_count": _wan(article.like),
        "user": {
            "id": int(author.id),
            "screen_name": author.name,
            "followers_count": _wan(author.fans),
            "verified_type": int(author.id) % 3 - 1,
        },
    }
    return {"card_type": 9, "mblog": mblog}


def _weibo_page(items: list[JsonObject], paging: Paging) -> JsonObject:
    info = {"page": paging.page + 1 if paging.has_more else None, "total": paging.total}
    return {"ok": 1, "data": {"cards": items, "cardlistInfo": info}}


def _weixin_item(article: SandboxArticle, keyword: str) -> JsonObject:
    author = article.author
    looking = article.like // 4
    hashtags = " ".join(f"#{topic}#" for topic in article.topics)
    return {
        "article_id": article.external_id,
        "title": article.title,
        "digest": article.content[:40],
        "content": f"<p>{article.content}</p><p>{hashtags}</p>",
        "url": f"https://mp.weixin.qq.com/s/{article.external_id}",
        "publish_time": article.timestamp,
        "read_num": "10万+" if article.read >= 100_000 else article.read,
        "like_num": article.like,
        "looking_num": looking,
        "share_num": article.share,
        "comment_num": article.comment,
        "interact_num": article.like + looking + article.share + article.comment,
        "account": {"biz": author.id, "nickname": author.name, "fans": author.fans},
    }


def _weixin_page(items: list[JsonObject], paging: Paging) -> JsonObject:
    data = {"list": items, "has_next": paging.has_more, "total": paging.total}
    return {"code": 0, "msg": "ok", "data": data}


def _xiaohongshu_item(article: SandboxArticle, keyword: str) -> JsonObject:
    author = article.author
    user: JsonObject = {"user_id": author.id, "nickname": author.name, "fans": _short(author.fans, "万")}
    if author.level:
        user["level"] = {"name": author.level}
    return {
        "note_id": article.external_id,
        "title": article.title,
        "desc": " ".join([article.content, *(f"#{topic}[话题]#" for topic in article.topics)]),
        "time": article.timestamp * 1000,
        "interact_info": {
            "liked_count": _short(article.like, "w"),
            "collected_count": _short(article.collect, "w"),
            "comment_count": _short(article.comment, "w"),
            "share_count": _short(article.share, "w"),
        },
        "user": user,
        "tag_list": [
            {"id": f"tag{index}", "name": topic, "type": "topic"}
            for index, topic in enumerate(article.topics)
        ],
    }


def _xiaohongshu_page(items: list[JsonObject], paging: Paging) -> JsonObject:
    cursor = str(paging.page + 1) if paging.has_more else ""
    return {
        "success": True,
        "msg": "成功",
        "data": {"items": items, "has_more": paging.has_more, "cursor": cursor},
    }


def _douyin_item(article: SandboxArticle, keyword: str) -> JsonObject:
    author = article.author
    desc = " ".join([article.content, *(f"#{topic}" for topic in article.topics)])
    return {
        "aweme_id": article.external_id,
        "desc": desc,
        "create_time": article.timestamp,
        "share_url": f"https://www.iesdouyin.com/share/video/{article.external_id}/",
        "statistics": {
            "digg_count": article.like,
            "comment_count": article.comment,
            "share_count": article.share,
            "play_count": article.play,
            "collect_count": article.collect,
            "download_count": article.download,
        },
        "author": {"uid": author.id, "nickname": author.name, "follower_count": author.fans},
        "text_extra": [
            {"start": desc.index(f"#{topic}"), "type": 1, "hashtag_name": topic} for topic in article.topics
        ],
    }


def _douyin_page(items: list[JsonObject], paging: Paging) -> JsonObject:
    return {
        "status_code": 0,
        "aweme_list": items,
        "has_more": int(paging.has_more),
        "cursor": paging.offset + len(items),
    }


def _bilibili_item(article: SandboxArticle, keyword: str) -> JsonObject:
    return {
        "type": "video",
        "bvid": article.external_id,
        "title": article.title.replace(keyword, f'<em class="keyword">{keyword}</em>'),
        "description": article.content,
        "arcurl": f"http://www.bilibili.com/video/{article.external_id}",
        "pubdate": article.timestamp,
        "play": article.play,
        "danmaku": article.danmu,
        "favorites": article.collect,
        "like": article.like,
        "review": article.comment,
        "author": article.author.name,
        "mid": int(article.author.id),
        "tag": ",".join(article.topics),
    }


def _bilibili_page(items: list[JsonObject], paging: Paging) -> JsonObject:
    data = {
        "page": paging.page,
        "pagesize": paging.size,
        "numResults": paging.total,
        "numPages": paging.pages,
        "result": items,
    }
    return {"code": 0, "message": "0", "ttl": 1, "data": data}


STAND_INS: dict[str, StandIn] = {
    "weibo": StandIn(
        path="/search/statuses",
        keyword_param="q",
        page_param="page",
        size_param="count",
        since_param="starttime",
        until_param="endtime",
        time_unit=1,
        id_style=("digits:16", "digits:10"),
        item=_weibo_item,
        page=_weibo_page,
        error=lambda code, message: {"ok": 0, "errno": str(code), "msg": message},
        breakable=(("mblog", "id"), ("mblog", "attitudes_count"), ("mblog", "created_at")),
    ),
    "weixin": StandIn(
        path="/api/search/articles",
        keyword_param="keyword",
        page_param="page",
        size_param="page_size",
        since_param="start_time",
        until_param="end_time",
        time_unit=1,
        id_style=("hex:16", "biz"),
        item=_weixin_item,
        page=_weixin_page,
        error=lambda code, message: {"code": code, "msg": message},
        breakable=(("article_id",), ("like_num",), ("publish_time",)),
    ),
    "xiaohongshu": StandIn(
        path="/api/sns/web/v1/search/notes",
        keyword_param="keyword",
        page_param="page",
        size_param="page_size",
        since_param="begin_ms",
        until_param="end_ms",
        time_unit=1000,
        id_style=("hex:24", "hex:24"),
        item=_xiaohongshu_item,
        page=_xiaohongshu_page,
        error=lambda code, message: {"success": False, "code": code, "msg": message},
        breakable=(("note_id",), ("interact_info", "liked_count"), ("time",)),
    ),
    "douyin": StandIn(
        path="/aweme/v1/web/search/item",
        keyword_param="keyword",
        page_param="cursor",
        size_param="count",
        since_param="publish_start",
        until_param="publish_end",
        time_unit=1,
        id_style=("digits:19", "digits:11"),
        item=_douyin_item,
        page=_douyin_page,
        error=lambda code, message: {"status_code": code, "status_msg": message},
        breakable=(("aweme_id",), ("statistics", "digg_count"), ("create_time",)),
        offset_paging=True,
    ),
    "bilibili": StandIn(
        path="/x/web-interface/search/type",
        keyword_param="keyword",
        page_param="page",
        size_param="page_size",
        since_param="pubtime_begin_s",
        until_param="pubtime_end_s",
        time_unit=1,
        id_style=("bv", "digits:9"),
        item=_bilibili_item,
        page=_bilibili_page,
        error=lambda code, message: {"code": -code, "message": message, "ttl": 1},
        breakable=(("bvid",), ("like",), ("pubdate",)),
    ),
}


def _make_id(style: str, digest: bytes) -> str:
    """An id in a platform's style: ``digits:N`` (N digits), ``hex:N``, ``bv`` (BV1 + 9), ``biz``."""
    number = int.from_bytes(digest[:12])
    kind, _, size = style.partition(":")
    if kind == "digits":
        width = int(size)
        return str(10 ** (width - 1) + number % (9 * 10 ** (width - 1)))
    if kind == "hex":
        return digest.hex()[: int(size)]
    if kind == "bv":
        return "BV1" + "".join(BASE58[number // 58**i % 58] for i in range(9))
    return f"MzA{number % 10**10:010d}=="  # weixin's base64-looking account "biz"


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, parts)).encode()).digest()


def _displayed(count: int) -> int:
    """`count` as exactly as the platforms' short forms can show it (thousands above ten thousand)."""
    return count if count < 10_000 else round(count, -3)


def _skewed(rng: random.Random, top: float) -> int:
    """A count between 1 and 10**top, most of them small."""
    return _displayed(int(10 ** rng.uniform(0, top)))


@lru_cache(maxsize=4096)
def _author(seed: int, platform: str, number: int) -> Author:
    rng = random.Random(f"{seed}/{platform}/author/{number}")
    nick = NICK_HEADS[number % len(NICK_HEADS)] + NICK_TAILS[number // len(NICK_HEADS) % len(NICK_TAILS)]
    repeat = number // (len(NICK_HEADS) * len(NICK_TAILS))
    has_level = platform == "xiaohongshu" and rng.random() < 0.7
    return Author(
        id=_make_id(STAND_INS[platform].id_style[1], _digest(seed, platform, "author", number)),
        name=nick + (str(repeat) if repeat else ""),
        fans=_displayed(int(10 ** rng.uniform(1, 6.8))),
        level=rng.choice(XHS_LEVELS) if has_level else "",
    )


def _article(seed: int, platform: str, keyword: str, index: int, authors: int, today: int) -> SandboxArticle:
    """The `index`-th article of `keyword`, the same on every call."""
    rng = random.Random(f"{seed}/{platform}/{keyword}/{index}")
    sentences = rng.sample(SENTENCES, rng.randint(1, 3))
    topics = rng.sample(TOPICS, rng.randint(0, 2)) + ([keyword] if rng.random() < 0.4 else [])
    return SandboxArticle(
        index=index,
        external_id=_make_id(STAND_INS[platform].id_style[0], _digest(seed, platform, keyword, index)),
        title=rng.choice(TITLES).format(kw=keyword),
        content="".join([rng.choice(OPENINGS).format(kw=keyword), *sentences]),
        topics=tuple(topics),
        post_time=datetime.fromtimestamp(today - rng.randrange(1, WINDOW_SECONDS), UTC),
        like=_skewed(rng, 5.5),
        share=_skewed(rng, 4.0),
        comment=_skewed(rng, 4.0),
        collect=_skewed(rng, 4.5),
        read=min(_skewed(rng, 5.8), 100_000),
        play=_skewed(rng, 6.5),
        danmu=_skewed(rng, 3.5),
        download=_skewed(rng, 3.0),
        author=_author(seed, platform, int(authors * rng.random() ** 2)),  # a few authors post a lot
        draw=rng.random(),
    )


@lru_cache(maxsize=64)
def _catalogue(seed: int, platform: str, keyword: str, count: int, today: int) -> Catalogue:
    authors = max(3, count // 6)
    generated = (_article(seed, platform, keyword, index, authors, today) for index in range(count))
    articles = tuple(sorted(generated, key=lambda article: (-article.timestamp, article.index)))
    return Catalogue(articles, tuple(-article.timestamp for article in articles))


def catalogue(config: SandboxSettings, platform: str, keyword: str) -> Catalogue:
    """The articles `keyword` finds on `platform` (cached; posted before today's UTC midnight)."""
    today = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    return _catalogue(config.seed, platform, keyword, config.platform_articles, today)


def expected_articles(
    config: SandboxSettings,
    platform: str,
    keyword: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[SandboxArticle, ...]:
    """What a search of `platform` for `keyword` in ``[since, until)`` serves, malformed items included."""
    return catalogue(config, platform, keyword).window(
        None if since is None else since.timestamp(), None if until is None else until.timestamp()
    )


def expected_counts(
    config: SandboxSettings,
    platform: str,
    keyword: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[int, int]:
    """How many good and how many malformed items that search serves."""
    articles = expected_articles(config, platform, keyword, since, until)
    malformed = sum(article.malformed(config) for article in articles)
    return len(articles) - malformed, malformed


def _break(item: JsonObject, article: SandboxArticle, stand_in: StandIn) -> JsonObject:
    """`item` with its id removed, a count or its post time unreadable (chosen by the article's index)."""
    kind = article.index % 3
    *parents, key = stand_in.breakable[kind]
    parent = item
    for name in parents:
        parent = parent[name]
    if kind == 0:
        del parent[key]
    else:
        parent[key] = BAD_COUNT if kind == 1 else BAD_TIME
    return item


@dataclass(frozen=True)
class Search:
    """A search request's parameters, checked."""

    keyword: str
    paging_start: int
    size: int
    since: float | None
    until: float | None


def _integer(request: Request, name: str, minimum: int) -> int | None:
    """An optional integer query parameter of at least `minimum`; ValueError otherwise."""
    raw = request.query_params.get(name, "")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _search(request: Request, stand_in: StandIn) -> Search:
    """The checked parameters of `request`; ValueError says which one is wrong."""
    keyword = request.query_params.get(stand_in.keyword_param, "").strip()
    if not keyword:
        raise ValueError(f"{stand_in.keyword_param} is required")
    first = 0 if stand_in.offset_paging else 1
    start = _integer(request, stand_in.page_param, first)
    size = _integer(request, stand_in.size_param, 1) or DEFAULT_PAGE_SIZE
    since = _integer(request, stand_in.since_param, 0)
    until = _integer(request, stand_in.until_param, 0)
    return Search(
        keyword,
        first if start is None else start,
        min(size, MAX_PAGE_SIZE),
        None if since is None else since / stand_in.time_unit,
        None if until is None else until / stand_in.time_unit,
    )


def _paging(search: Search, total: int, offset_paging: bool) -> Paging:
    if offset_paging:
        return Paging(search.paging_start // search.size + 1, search.size, search.paging_start, total)
    return Paging(search.paging_start, search.size, (search.paging_start - 1) * search.size, total)


async def _fault(
    request: Request, config: SandboxSettings, stand_in: StandIn, roll: float
) -> Response | None:
    """The injected fault `roll` falls on, each rate taking its share of [0, 1) in turn."""
    roll -= config.platform_error_rate
    if roll < 0:
        return PlainTextResponse("sandbox: injected platform error", status_code=500)
    roll -= config.platform_throttle_rate
    if roll < 0:
        return JSONResponse(
            stand_in.error(429, "too many requests"), status_code=429, headers={"Retry-After": "1"}
        )
    roll -= config.platform_timeout_rate
    if roll < 0:
        await _wait_unless_disconnected(request, TIMEOUT_SECONDS)
        return PlainTextResponse("sandbox: gave up", status_code=504)
    return None


def _endpoint(platform: str, stand_in: StandIn) -> Callable[[Request], Awaitable[Response]]:
    """The search handler of one platform."""

    async def search(request: Request) -> Response:
        state = request.app.state
        config: SandboxSettings = state.config
        if config.platform_latency_ms:
            await asyncio.sleep(config.platform_latency_ms / 1000)
        if request.headers.get(KEY_HEADER) != config.platform_key:
            return JSONResponse(stand_in.error(401, "invalid or missing api key"), status_code=401)
        fault = await _fault(request, config, stand_in, state.rng.random())
        if fault is not None:
            return fault
        try:
            query = _search(request, stand_in)
        except ValueError as exc:
            return JSONResponse(stand_in.error(400, str(exc)), status_code=400)
        matching = catalogue(config, platform, query.keyword).window(query.since, query.until)
        paging = _paging(query, len(matching), stand_in.offset_paging)
        if config.platform_fail_past_end and paging.offset > 0 and paging.offset >= len(matching):
            return PlainTextResponse("sandbox: injected error past the end", status_code=500)
        served = matching[paging.offset : paging.offset + paging.size]
        items = [_served_item(article, query.keyword, stand_in, config) for article in served]
        return JSONResponse(stand_in.page(items, paging))

    return search


def _served_item(
    article: SandboxArticle, keyword: str, stand_in: StandIn, config: SandboxSettings
) -> JsonObject:
    item = stand_in.item(article, keyword)
    return _break(item, article, stand_in) if article.malformed(config) else item


def create_router() -> Router:
    """The platforms router: ``/{name}{path}`` for each stand-in."""
    return Router(
        routes=[
            Route(f"/{platform}{stand_in.path}", _endpoint(platform, stand_in))
            for platform, stand_in in STAND_INS.items()
        ]
    )
