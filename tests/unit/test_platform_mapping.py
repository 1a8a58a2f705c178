"""connectors.platforms: each platform's answer shape mapped to `Article`s, item by item."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.platforms import PLATFORM_APIS, PlatformError, SearchPage, SearchQuery
from core.settings import PLATFORMS
from rules.briefs import Article

QUERY = SearchQuery("咖啡", page=1, page_size=20)
POSTED = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in China
POSTED_S = int(POSTED.timestamp())

WEIBO_BODY: dict[str, Any] = {
    "ok": 1,
    "data": {
        "cards": [
            {"card_type": 11, "card_group": []},
            {
                "card_type": 9,
                "mblog": {
                    "id": "5102345678901234",
                    "mid": "5102345678901234",
                    "text": '今天喝了<span class="x">咖啡</span>&amp;蛋糕<br />'
                    '<a href="/s?q=%23咖啡%23">#咖啡#</a><a href="/s">#探店日记#</a>',
                    "created_at": "Tue Nov 24 10:00:00 +0800 2026",
                    "reposts_count": 12,
                    "comments_count": "1,234",
                    "attitudes_count": "1.2万",
                    "user": {"id": 1234567890, "screen_name": "爱吃橙子", "followers_count": "3.4万"},
                },
            },
        ],
        "cardlistInfo": {"page": 2, "total": 45},
    },
}
WEIBO_ARTICLE = Article(
    platform="weibo",
    external_id="5102345678901234",
    url="https://m.weibo.cn/detail/5102345678901234",
    title="",
    content="今天喝了咖啡&蛋糕\n#咖啡##探店日记#",
    post_time=POSTED,
    like=12_000,
    share=12,
    comment=1_234,
    interaction=12_000 + 12 + 1_234,
    user_id="1234567890",
    user_name="爱吃橙子",
    user_fans=34_000,
    user_fans_level="1万-10万",
    topics=("咖啡", "探店日记"),
)

WEIXIN_BODY: dict[str, Any] = {
    "code": 0,
    "msg": "ok",
    "data": {
        "list": [
            {
                "article_id": "4c5cb8215e0aaf6a",
                "title": "咖啡测评",
                "digest": "一杯好咖啡",
                "content": "<p>一杯好咖啡</p><p>#生活记录#</p>",
                "url": "https://mp.weixin.qq.com/s/4c5cb8215e0aaf6a",
                "publish_time": POSTED_S,
                "read_num": "10万+",
                "like_num": 300,
                "looking_num": 75,
                "share_num": 40,
                "comment_num": 5,
                "interact_num": 420,
                "account": {"biz": "MzA5NjE0ODk3Mw==", "nickname": "咖啡日报", "fans": 2_000_000},
            }
        ],
        "has_next": True,
        "total": 45,
    },
}
WEIXIN_ARTICLE = Article(
    platform="weixin",
    external_id="4c5cb8215e0aaf6a",
    url="https://mp.weixin.qq.com/s/4c5cb8215e0aaf6a",
    title="咖啡测评",
    content="一杯好咖啡\n#生活记录#",
    post_time=POSTED,
    read=100_000,
    like=300,
    share=40,
    comment=5,
    interaction=420,  # the platform's own figure (likes, 在看, shares, comments), not the sum
    user_id="MzA5NjE0ODk3Mw==",
    user_name="咖啡日报",
    user_fans=2_000_000,
    user_fans_level="100万+",
    topics=("生活记录",),
)

XIAOHONGSHU_BODY: dict[str, Any] = {
    "success": True,
    "msg": "成功",
    "data": {
        "items": [
            {
                "note_id": "64f1c2a3000000001e03abcd",
                "title": "咖啡探店",
                "desc": "周末的咖啡 #咖啡[话题]#",
                "time": POSTED_S * 1000 + 250,
                "interact_info": {
                    "liked_count": "3.4w",
                    "collected_count": "1.2万",
                    "comment_count": "88",
                    "share_count": "",
                },
                "user": {
                    "user_id": "5f1e2d3c4b5a697887766554",
                    "nickname": "小团子",
                    "fans": "2.1万",
                    "level": {"name": "金冠薯"},
                },
                "tag_list": [
                    {"id": "t1", "name": "咖啡"},
                    {"id": "t2", "name": "#探店#"},
                    {"id": "t3", "name": "咖啡"},
                ],
            }
        ],
        "has_more": False,
        "cursor": "",
    },
}
XIAOHONGSHU_ARTICLE = Article(
    platform="xiaohongshu",
    external_id="64f1c2a3000000001e03abcd",
    url="https://www.xiaohongshu.com/explore/64f1c2a3000000001e03abcd",
    title="咖啡探店",
    content="周末的咖啡 #咖啡[话题]#",
    post_time=datetime(2026, 11, 24, 2, 0, 0, 250_000, tzinfo=UTC),
    like=34_000,
    collect=12_000,
    comment=88,
    interaction=34_000 + 12_000 + 88,
    user_id="5f1e2d3c4b5a697887766554",
    user_name="小团子",
    user_fans=21_000,
    user_fans_level="金冠薯",  # the platform's own level
    topics=("咖啡", "探店"),
)

DOUYIN_BODY: dict[str, Any] = {
    "status_code": 0,
    "aweme_list": [
        {
            "aweme_id": "7301234567890123456",
            "desc": "拉花教程 #咖啡 #手冲",
            "create_time": POSTED_S,
            "share_url": "https://www.iesdouyin.com/share/video/7301234567890123456/",
            "statistics": {
                "digg_count": 5000,
                "comment_count": 300,
                "share_count": 20,
                "play_count": 100_000,
                "collect_count": 80,
                "download_count": 7,
            },
            "author": {"uid": "53026186908", "nickname": "拉花师傅", "follower_count": 150_000},
            "text_extra": [{"hashtag_name": "咖啡"}, {"user_id": "123"}, {"hashtag_name": "手冲"}],
        }
    ],
    "has_more": 1,
    "cursor": 20,
}
DOUYIN_ARTICLE = Article(
    platform="douyin",
    external_id="7301234567890123456",
    url="https://www.iesdouyin.com/share/video/7301234567890123456/",
    title="",
    content="拉花教程 #咖啡 #手冲",
    post_time=POSTED,
    like=5000,
    comment=300,
    share=20,
    play=100_000,
    collect=80,
    download=7,
    interaction=5000 + 300 + 20 + 80,
    user_id="53026186908",
    user_name="拉花师傅",
    user_fans=150_000,
    user_fans_level="10万-100万",
    topics=("咖啡", "手冲"),
)

BILIBILI_BODY: dict[str, Any] = {
    "code": 0,
    "message": "0",
    "data": {
        "page": 1,
        "pagesize": 20,
        "numResults": 45,
        "numPages": 3,
        "result": [
            {
                "bvid": "BV1xx411c7mD",
                "title": '在家做<em class="keyword">咖啡</em>',
                "description": "手把手教你",
                "arcurl": "http://www.bilibili.com/video/BV1xx411c7mD",
                "pubdate": POSTED_S,
                "play": 12_345,
                "danmaku": 67,
                "favorites": 890,
                "like": 1_000,
                "review": 45,
                "author": "咖啡UP主",
                "mid": 279798738,
                "tag": "咖啡,教程,,美食",
            }
        ],
    },
}
BILIBILI_ARTICLE = Article(
    platform="bilibili",
    external_id="BV1xx411c7mD",
    url="http://www.bilibili.com/video/BV1xx411c7mD",
    title="在家做咖啡",
    content="手把手教你",
    post_time=POSTED,
    play=12_345,
    danmu=67,
    collect=890,
    like=1_000,
    comment=45,
    interaction=1_000 + 45 + 890 + 67,
    user_id="279798738",
    user_name="咖啡UP主",
    user_fans_level="",  # bilibili's search gives no follower count, so no level
    topics=("咖啡", "教程", "美食"),
)

# per platform: a one-item answer, its article, its paging, and the path to its item list
CASES: dict[str, tuple[dict[str, Any], Article, int | None, bool, tuple[str, ...]]] = {
    "weibo": (WEIBO_BODY, WEIBO_ARTICLE, 3, True, ("data", "cards")),
    "weixin": (WEIXIN_BODY, WEIXIN_ARTICLE, 3, True, ("data", "list")),
    "xiaohongshu": (XIAOHONGSHU_BODY, XIAOHONGSHU_ARTICLE, None, False, ("data", "items")),
    "douyin": (DOUYIN_BODY, DOUYIN_ARTICLE, None, True, ("aweme_list",)),
    "bilibili": (BILIBILI_BODY, BILIBILI_ARTICLE, 3, True, ("data", "result")),
}
# per platform: (path inside the good item, bad value or None to delete it, expected reason)
BREAKAGES: dict[str, list[tuple[tuple[str, ...], object, str]]] = {
    "weibo": [
        (("mblog", "id"), None, "id is missing"),
        (("mblog", "attitudes_count"), "abc", "like count 'abc' is not a number"),
        (("mblog", "created_at"), "刚刚", "post time created_at '刚刚' is not a weibo time"),
    ],
    "weixin": [
        (("article_id",), "", "article_id is missing"),
        (("read_num",), "-3", "read count '-3' is negative"),
        (("publish_time",), None, "post time publish_time is missing"),
    ],
    "xiaohongshu": [
        (("note_id",), {"x": 1}, "note_id {'x': 1} is not an id"),
        (("interact_info", "liked_count"), "很多", "like count '很多' is not a number"),
        (("time",), "yesterday", "post time time 'yesterday' is not a timestamp"),
    ],
    "douyin": [
        (("aweme_id",), None, "aweme_id is missing"),
        (("statistics",), [1, 2], "statistics is not an object"),
        (("create_time",), 10**20, "post time create_time 100000000000000000000 is not a timestamp"),
    ],
    "bilibili": [
        (("bvid",), None, "bvid is missing"),
        (("review",), "abc", "comment count 'abc' is not a number"),
        (("title",), 42, "title 42 is not text"),
    ],
}


def _items(body: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    for key in path:
        body = body[key]
    return body  # type: ignore[return-value]


def _broken(item: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    broken = copy.deepcopy(item)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return broken


def _with_items(platform: str, items: list[Any]) -> dict[str, Any]:
    """The platform's one-item answer with its item list replaced by `items`."""
    body, *_, path = CASES[platform]
    changed = copy.deepcopy(body)
    _items(changed, path[:-1])[path[-1]] = items
    return changed


def _good_item(platform: str) -> dict[str, Any]:
    body, *_, path = CASES[platform]
    return _items(body, path)[-1]


def parse(platform: str, body: object, query: SearchQuery = QUERY) -> SearchPage:
    return PLATFORM_APIS[platform].parse(body, query)


def test_one_api_per_platform() -> None:
    assert tuple(PLATFORM_APIS) == PLATFORMS
    assert all(api.name == name for name, api in PLATFORM_APIS.items())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_answer_maps_to_articles(platform: str) -> None:
    body, article, total_pages, has_more, _ = CASES[platform]
    page = parse(platform, body)
    assert page == SearchPage([article], [], total_pages, has_more, 1)
    assert page.articles[0].post_time is not None
    assert page.articles[0].post_time.utcoffset() is not None
    assert page.articles[0].keyword == ""


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_bad_item_is_skipped_with_its_reason(platform: str) -> None:
    good = _good_item(platform)
    items = [_broken(good, path, value) for path, value, _ in BREAKAGES[platform]]
    items.insert(1, good)
    items.append("not an object")
    page = parse(platform, _with_items(platform, items), SearchQuery("咖啡", page=3))
    assert page.articles == [CASES[platform][1]]
    reasons = [reason for _, _, reason in BREAKAGES[platform]] + ["item is not an object"]
    positions = (1, 3, 4, 5)
    assert page.malformed == [
        f"{platform} page 3 item {n}: {r}" for n, r in zip(positions, reasons, strict=True)
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_time_window_keeps_since_and_drops_until(platform: str) -> None:
    body = _with_items(platform, [_good_item(platform)])
    article = CASES[platform][1]
    assert article.post_time is not None
    at = article.post_time
    windows = {
        (at, None): 1,
        (None, at): 0,
        (None, at.replace(year=2027)): 1,
        (at.replace(year=2025), at): 0,
        (at.replace(microsecond=at.microsecond + 1), None): 0,
    }
    for (since, until), kept in windows.items():
        page = parse(platform, body, SearchQuery("咖啡", since=since, until=until))
        assert (len(page.articles), page.malformed) == (kept, []), (since, until)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("body", [None, [], "<html>502</html>", {"unexpected": True}])
def test_a_foreign_answer_is_a_transient_error(platform: str, body: object) -> None:
    with pytest.raises(PlatformError, match=f"not a {platform} search result") as caught:
        parse(platform, body)
    assert caught.value.transient


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_broken_item_list_is_a_transient_error(platform: str) -> None:
    with pytest.raises(PlatformError, match=r"malformed search result: .* is not a list") as caught:
        parse(platform, _with_items(platform, {"not": "a list"}))  # type: ignore[arg-type]
    assert caught.value.transient


def test_an_error_envelope_says_the_platform_message() -> None:
    body = {"ok": 0, "errno": "20003", "msg": "系统繁忙"}
    with pytest.raises(PlatformError, match="weibo answered ok=0: 系统繁忙") as caught:
        parse("weibo", body)
    assert caught.value.transient


def test_empty_results_are_an_empty_last_page() -> None:
    page = parse("douyin", {"status_code": 0, "aweme_list": None, "has_more": 0})
    assert page == SearchPage([], [], None, False, 0)


def test_params_follow_each_platform() -> None:
    since = datetime(2026, 11, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    until = datetime(2026, 11, 2, 0, 0, 0, 500_000, tzinfo=UTC)
    query = SearchQuery("咖啡", page=3, page_size=80, since=since, until=until)
    start, end = int(since.timestamp()), int(until.timestamp()) + 1  # widened to whole seconds
    assert PLATFORM_APIS["weibo"].params(query) == {
        "q": "咖啡",
        "page": "3",
        "count": "50",
        "starttime": str(start),
        "endtime": str(end),
    }
    assert PLATFORM_APIS["douyin"].params(query)["cursor"] == "100"  # offset of page 3 at 50 a page
    xhs = PLATFORM_APIS["xiaohongshu"].params(query)
    assert (xhs["begin_ms"], xhs["end_ms"]) == (str(start * 1000 + 500), str(end * 1000 - 500))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"keyword": " "},
        {"keyword": "咖啡", "page": 0},
        {"keyword": "咖啡", "page_size": 0},
        {"keyword": "咖啡", "since": datetime(2026, 1, 1)},
    ],
)
def test_bad_queries_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SearchQuery(**kwargs)


def test_platform_error_survives_pickling() -> None:
    error = PlatformError("weibo is unavailable (HTTP 429)", transient=True, retry_after=1.0)
    copied = pickle.loads(pickle.dumps(error))
    assert (type(copied), str(copied), copied.transient, copied.retry_after) == (
        PlatformError,
        "weibo is unavailable (HTTP 429)",
        True,
        1.0,
    )
