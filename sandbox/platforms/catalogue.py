"""The articles the platform stand-ins serve, generated deterministically per (seed, platform,
keyword, index)."""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from core.settings import SandboxSettings

WINDOW_SECONDS = 30 * 86_400


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


ID_STYLES = {  # platform: the ids of its articles, of its authors (see `_make_id`)
    "weibo": ("digits:16", "digits:10"),
    "weixin": ("hex:16", "biz"),
    "xiaohongshu": ("hex:24", "hex:24"),
    "douyin": ("digits:19", "digits:11"),
    "bilibili": ("bv", "digits:9"),
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
        id=_make_id(ID_STYLES[platform][1], _digest(seed, platform, "author", number)),
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
        external_id=_make_id(ID_STYLES[platform][0], _digest(seed, platform, keyword, index)),
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
