"""The microblog's users and the posts of its seeded authors, computed from the seed, never stored.

Channels (the brand accounts Switchyard connects) are the three named `CHANNELS` and ``channel{n}``
(n = 1..100000, for benchmarks). Each follows `FOLLOWED` of the `AUTHORS`, drawn from the seed. Author
``a`` posts every ``delta_a`` ms (about ``FOLLOWED / posts_per_minute`` minutes, jittered per author)
from a phase of its own, for ever, so a home timeline (the merge of its authors' streams) gets about
``posts_per_minute`` posts a minute. A post's id is a snowflake: ``(ms - EPOCH_MS) << 22 | a << 12``
(bit 21 set: a post the world keeps, `world.Post`), so an id says when and by whom, and ids increase
with time. A tenth of the posts are reposts of another author's earlier post, a tenth replies to one.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

MASK = (1 << 64) - 1
EPOCH_MS = 1_288_834_974_657  # the snowflake epoch X uses
WORLD_BIT = 1 << 21
FOLLOWED = 10
FIRST_VIRTUAL_CHANNEL = 3_000_000
VIRTUAL_CHANNELS = 100_000


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str
    lang: str  # the language an author writes in ("" for a channel)


CHANNELS = (
    User("1001", "demo_brand", "Demo Brand", ""),
    User("1002", "demo_cafe", "Demo Café", ""),
    User("1003", "demo_books", "Demo Books", ""),
)
AUTHORS = tuple(
    User(str(2001 + n), username, name, lang)
    for n, (username, name, lang) in enumerate(
        (
            ("tech_daily", "Tech Daily", "en"),
            ("space_watch", "Space Watch", "en"),
            ("market_pulse", "Market Pulse", "en"),
            ("indie_games", "Indie Games", "en"),
            ("nyc_eats", "NYC Eats", "en"),
            ("breaking_alerts", "Breaking Alerts", "en"),
            ("promo_deals", "Promo Deals 🔥", "en"),
            ("moscow_news_ru", "Новости Москвы", "ru"),
            ("kotiki_ru", "Котики", "ru"),
            ("hockey_ru", "Хоккей", "ru"),
            ("beijing_food", "北京美食", "zh"),
            ("shanghai_tech", "上海科技", "zh"),
            ("tokyo_ramen", "東京ラーメン", "ja"),
            ("anime_news_jp", "アニメニュース", "ja"),
            ("madrid_futbol", "Fútbol Madrid", "es"),
            ("cocina_facil", "Cocina Fácil", "es"),
            ("berlin_kultur", "Berlin Kultur", "de"),
            ("auto_news_de", "Auto News", "de"),
            ("paris_bistro", "Bistro Paris", "fr"),
            ("cinema_fr", "Cinéma", "fr"),
            ("photo_daily", "Photo Daily", "und"),
            ("travel_world", "Travel World", "en"),
        )
    )
)
BY_USERNAME = {user.username: user for user in CHANNELS + AUTHORS}
BY_ID = {user.id: user for user in CHANNELS + AUTHORS}
AUTHOR_INDEX = {user.id: n for n, user in enumerate(AUTHORS)}

SENTENCES = {
    "en": (
        "Big news today", "This changes everything", "Thread below", "What do you think?",
        "Can't believe this happened", "New record this week", "Worth a read", "Morning update",
    ),
    "ru": ("Главные новости дня", "Что вы думаете?", "Невероятно красиво", "Новый рекорд", "Доброе утро"),
    "zh": ("今天的好消息", "大家怎么看", "新的纪录", "早上好", "值得一看"),
    "ja": ("今日のニュース", "みなさんはどう思いますか", "新記録です", "おはようございます", "必見です"),
    "es": ("Gran noticia hoy", "¿Qué opináis?", "Nuevo récord", "Buenos días", "Vale la pena"),
    "de": ("Große Neuigkeiten heute", "Was denkt ihr?", "Neuer Rekord", "Guten Morgen", "Lesenswert"),
    "fr": ("Grande nouvelle aujourd'hui", "Qu'en pensez-vous ?", "Nouveau record", "Bonjour à tous"),
}  # fmt: skip
HASHTAGS = {
    "en": ("tech", "AI", "space", "markets", "gaming", "food", "news", "deal", "travel"),
    "ru": ("новости", "москва", "котики", "хоккей"),
    "zh": ("美食", "科技", "北京"),
    "ja": ("ラーメン", "アニメ", "東京"),
    "es": ("futbol", "cocina", "Madrid"),
    "de": ("Berlin", "Kultur", "Auto"),
    "fr": ("Paris", "cinéma", "bistro"),
    "und": ("photo", "sunset", "photography"),
}
HASHTAG = re.compile(r"#(\w+)")
MENTION = re.compile(r"@(\w{1,15})")
URL = re.compile(r"https://t\.co/\w+")


def mix(x: int) -> int:
    """splitmix64's finaliser: 64 well-mixed bits from any integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def unit(bits: int) -> float:
    return ((bits >> 11) + 1) / float(1 << 53)


def user_by_username(username: str) -> User | None:
    name = username.strip().lower()
    known = BY_USERNAME.get(name)
    if known is not None:
        return known
    digits = name.removeprefix("channel")
    if name.startswith("channel") and digits.isascii() and digits.isdigit() and not digits.startswith("0"):
        n = int(digits)
        if n <= VIRTUAL_CHANNELS:
            return User(str(FIRST_VIRTUAL_CHANNEL + n), name, f"Channel {n}", "")
    return None


def user_by_id(user_id: str) -> User | None:
    known = BY_ID.get(user_id)
    if known is not None:
        return known
    if user_id.isascii() and user_id.isdigit() and len(user_id) < 10:
        n = int(user_id) - FIRST_VIRTUAL_CHANNEL
        if 1 <= n <= VIRTUAL_CHANNELS:
            return user_by_username(f"channel{n}")
    return None


@dataclass(frozen=True)
class Generated:
    """A seeded author's post: what `api` renders."""

    id: int
    author: User
    created_ms: int
    text: str
    lang: str
    referenced: tuple[tuple[str, str], ...]  # (type, id)
    in_reply_to: str | None
    max_likes: int


class Streams:
    """The authors' posts of one (seed, posts per minute)."""

    def __init__(self, seed: int, per_minute: float) -> None:
        self.seed = seed
        self.key = mix(seed * 0x2545F4914F6CDD1D + 11)
        mean = FOLLOWED * 60_000 / per_minute
        self.delta: list[int] = []
        self.phase: list[int] = []
        for n in range(len(AUTHORS)):
            h = self._hash(n, 1)
            delta = max(1, round(mean * (0.5 + unit(h))))
            self.delta.append(delta)
            self.phase.append(self._hash(n, 2) % delta)

    def _hash(self, a: int, salt: int) -> int:
        return mix(self.key ^ (a * 0x9E3779B1 + salt * 0x85EBCA77))

    def followed(self, user_id: str) -> tuple[int, ...]:
        """The author indexes `user_id` follows (its home timeline's streams)."""
        return _followed(self.seed, user_id)

    # --- ids and times ---

    def time_of(self, a: int, k: int) -> int:
        return self.phase[a] + k * self.delta[a]

    def last_k(self, a: int, at_ms: int) -> int:
        """The index of author `a`'s last post at or before `at_ms`."""
        return (at_ms - self.phase[a]) // self.delta[a]

    @staticmethod
    def id_of(a: int, created_ms: int) -> int:
        return ((created_ms - EPOCH_MS) << 22) | (a << 12)

    def descending(self, a: int, below_id: int, now_ms: int, above_id: int) -> Iterator[int]:
        """Author `a`'s post ids below `below_id` and above `above_id`, newest first."""
        top_ms = min(now_ms, ((below_id - 1) >> 22) + EPOCH_MS)
        k = self.last_k(a, top_ms)
        while True:
            pid = self.id_of(a, self.time_of(a, k))
            if pid <= above_id:
                return
            if pid < below_id:
                yield pid
            k -= 1

    def exists(self, post_id: int, now_ms: int) -> bool:
        if post_id & WORLD_BIT or post_id & 0xFFF:
            return False
        a, created = (post_id >> 12) & 0x1FF, (post_id >> 22) + EPOCH_MS
        return a < len(AUTHORS) and created <= now_ms and (created - self.phase[a]) % self.delta[a] == 0

    # --- content ---

    def post(self, post_id: int) -> Generated:
        """The post `post_id` (one `exists` says is there)."""
        a, created = (post_id >> 12) & 0x1FF, (post_id >> 22) + EPOCH_MS
        author = AUTHORS[a]
        h = self._draw(a, created)
        max_likes = int(20 * (1 / unit(h) - 1)) % 50_000
        roll = (h >> 8) % 100
        if roll < 20:
            other = (a + 1 + (h >> 16) % (len(AUTHORS) - 1)) % len(AUTHORS)
            k = self.last_k(other, created - 1 - (h >> 24) % 3_600_000)
            while (self._draw(other, self.time_of(other, k)) >> 8) % 100 < 20:
                k -= 1  # a repost or reply refers to an original, as the original's own id shows it
            target = self.post(self.id_of(other, self.time_of(other, k)))
            if roll < 10:
                text = f"RT @{target.author.username}: {target.text}"
                return Generated(
                    post_id, author, created, text, target.lang, (("retweeted", str(target.id)),), None, 0
                )
            text = f"@{target.author.username} {self._sentence(author.lang, h >> 32)}"
            referenced = (("replied_to", str(target.id)),)
            return Generated(
                post_id, author, created, text, author.lang, referenced, target.author.id, max_likes // 4
            )
        text, lang = self._original(author.lang, h)
        return Generated(post_id, author, created, text, lang, (), None, max_likes)

    def _draw(self, a: int, created: int) -> int:
        """The hash that decides author `a`'s post made at `created` (its kind, likes and text)."""
        return self._hash(a, 1_000 + (created - self.phase[a]) // self.delta[a])

    def _sentence(self, lang: str, h: int) -> str:
        sentences = SENTENCES.get(lang, SENTENCES["en"])
        return sentences[h % len(sentences)]

    def _original(self, lang: str, h: int) -> tuple[str, str]:
        tags = HASHTAGS[lang]
        chosen = [tags[(h >> (40 + 4 * n)) % len(tags)] for n in range((h >> 36) % 4)]
        parts = [] if lang == "und" else [self._sentence(lang, h >> 20)]
        parts += [f"#{tag}" for tag in dict.fromkeys(chosen)]
        if (h >> 56) % 100 < 15 or not parts:
            parts.append(f"https://t.co/{format(h & 0xFFFFFFFFFF, 'x')}")
        return " ".join(parts), lang


@lru_cache(maxsize=4096)
def _followed(seed: int, user_id: str) -> tuple[int, ...]:
    rng = random.Random(f"{seed}-follows-{user_id}")
    return tuple(sorted(rng.sample(range(len(AUTHORS)), FOLLOWED)))


@lru_cache(maxsize=16)
def streams(seed: int, per_minute: float) -> Streams:
    return Streams(seed, per_minute)


def likes_at(max_likes: int, age_ms: int) -> int:
    """Likes rise with a post's age towards its `max_likes` (most of them in its first hours)."""
    return int(max_likes * (1 - math.exp(-max(age_ms, 0) / 7_200_000)))


def entities(text: str) -> dict[str, list[dict[str, object]]]:
    """X's entities of `text`: hashtags, mentions and urls with their code-point offsets."""
    found: dict[str, list[dict[str, object]]] = {}
    tags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in HASHTAG.finditer(text)]
    mentions = []
    for m in MENTION.finditer(text):
        user = BY_USERNAME.get(m.group(1).lower())
        mention: dict[str, object] = {"start": m.start(), "end": m.end(), "username": m.group(1)}
        if user is not None:
            mention["id"] = user.id
        mentions.append(mention)
    urls = [
        {
            "start": m.start(),
            "end": m.end(),
            "url": m.group(),
            "expanded_url": m.group(),
            "display_url": m.group()[8:],
        }
        for m in URL.finditer(text)
    ]
    for name, items in (("hashtags", tags), ("mentions", mentions), ("urls", urls)):
        if items:
            found[name] = items
    return found


def weighted_length(text: str) -> int:
    """X's weighted length (twitter-text v3, simplified): CJK and emoji count 2, a URL 23."""
    total = 0
    rest = URL.sub("", text)
    total += 23 * len(URL.findall(text))
    for char in rest:
        code = ord(char)
        light = code <= 4351 or 8192 <= code <= 8205 or 8208 <= code <= 8223 or 8242 <= code <= 8247
        total += 1 if light else 2
    return total
