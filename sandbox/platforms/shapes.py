"""Each platform's answer shapes: its query parameters, items, envelopes and errors, and how an
item is served broken."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

from sandbox.platforms.catalogue import SandboxArticle

JsonObject = dict[str, Any]


CHINA = timezone(timedelta(hours=8))


WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"


BAD_COUNT = "abc"


BAD_TIME = "刚刚"


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
        item=_bilibili_item,
        page=_bilibili_page,
        error=lambda code, message: {"code": -code, "message": message, "ttl": 1},
        breakable=(("bvid",), ("like",), ("pubdate",)),
    ),
}


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
