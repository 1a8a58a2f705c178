"""The five platforms' search APIs: how each is asked and how its answer maps to `Article`s."""

from __future__ import annotations

from connectors.platforms.base import Listing, PlatformApi, SearchQuery
from connectors.platforms.fields import (
    JsonObject,
    _array,
    _as_object,
    _completed,
    _count,
    _epoch,
    _identifier,
    _names,
    _optional_count,
    _optional_identifier,
    _optional_object,
    _pages,
    _text,
    _topics,
    _weibo_time,
)
from core.settings import PLATFORMS
from rules.briefs import PAIRED_HASHTAG_RE, Article


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
