"""The photo network's synthetic graph: millions of users derived from their pk, never materialised.

A user's profile is a hash of (seed, pk). The followers of user ``u`` are an affine permutation of the
virtual id space: follower ``i`` (``i < followers(u)``) is ``(A * i + b_u) mod P``, so a page costs its
length and "does ``v`` follow ``u``" is one modular inversion. Followings use a second permutation.
A fifth of the public virtual users (`Graph.follows_back`) follow back at once whoever follows them.
The named `CATALOG` accounts (pks below `FIRST_VIRTUAL`) have fixed profiles; they never appear in the
virtual lists, only where an overlay puts them (a follow made through the API).

Posts of a user are ``{pk}_{k}`` for ``k < media(u)`` (newest last), spaced a few days apart before
today (UTC). A hashtag or location feed holds one post per slot of a few seconds, the newest slot now,
by a pseudo-random author; its id ``{author}_{FEED_BASE + slot * FEEDS + feed}`` names its feed, so
``media/{id}/info`` finds it again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

MASK = (1 << 64) - 1
FIRST_VIRTUAL = 1_000  # pks below are the catalog's (or nobody's)
USERS = 10_000_000  # virtual users: pks FIRST_VIRTUAL .. FIRST_VIRTUAL + USERS - 1
P = USERS - 1  # a user's followers are drawn from everyone else
A_FOLLOWERS = 7_368_787
A_FOLLOWINGS = 3_021_377
MAX_FOLLOWERS = 100_000
MAX_FOLLOWINGS = 7_500
MAX_MEDIA = 300
FEED_BASE = 10_000_000  # media numbers at and above belong to a hashtag or location feed
DAY = 86_400
FOLLOW_BACK_PERCENT = 20

FIRST_NAMES = (
    "Anna", "Ivan", "Maria", "Alex", "Olga", "Dmitry", "Elena", "Sergey", "Kate", "Max",
    "Sofia", "Leo", "Mia", "Noah", "Emma", "Liam", "Wei", "Li", "Yuki", "Omar",
)  # fmt: skip
LAST_NAMES = (
    "Ivanova", "Petrov", "Smith", "Chen", "Garcia", "Müller", "Rossi", "Novak", "Kim", "Sato",
    "Silva", "Dubois", "Kowalski", "Popescu", "Nielsen", "Wang",
)  # fmt: skip
BIO_WORDS = (
    "coffee", "lover", "travel", "photography", "mom", "dad", "runner", "artist", "designer",
    "music", "nature", "food", "blogger", "moscow", "dreamer", "books", "yoga", "cats", "dogs",
    "shop", "promo", "bot", "sale", "follow4follow",
)  # fmt: skip
CAPTION_WORDS = (
    "sunday", "morning", "light", "friends", "finally", "weekend", "new", "today", "best", "home",
    "summer", "winter", "city", "walk", "view", "love",
)  # fmt: skip
HASHTAGS = ("coffee", "travel", "art", "food", "moscow", "咖啡")


@dataclass(frozen=True)
class Location:
    pk: int
    name: str


LOCATIONS = (
    Location(213_385_402, "Moscow, Russia"),
    Location(212_988_663, "Paris, France"),
    Location(213_131_048, "Berlin, Germany"),
    Location(215_432_130, "Café Pushkin"),
    Location(218_745_001, "Gorky Park"),
)
LOCATIONS_BY_PK = {location.pk: location for location in LOCATIONS}
FEEDS = len(HASHTAGS) + len(LOCATIONS)  # feed numbers: the hashtags, then the locations


@dataclass(frozen=True)
class User:
    """One user's profile as the network serves it."""

    pk: int
    username: str
    full_name: str
    biography: str
    is_private: bool
    is_business: bool
    followers: int
    followings: int
    media: int


CATALOG: dict[str, User] = {
    user.username: user
    for user in (
        # connected accounts: the demo and the tests log in as these
        User(1, "demo_bakery", "Demo Bakery", "Fresh bread every morning ☕", False, True, 2_000, 300, 120),
        User(2, "demo_gallery", "Demo Gallery", "Contemporary art, new shows", False, False, 2_100, 450, 80),
        User(3, "demo_studio", "Demo Studio", "Photography studio for rent", False, False, 1_900, 220, 60),
        # targets
        User(10, "big_brand", "Big Brand", "The benchmark's 100k target", False, True, 100_000, 150, 300),
        User(11, "corner_shop", "Corner Shop", "Handmade goods shop, promo", False, True, 1_200, 800, 45),
        User(12, "private_person", "Private Person", "friends only", True, False, 450, 300, 40),
        User(13, "art_business", "Art Business Ltd", "Prints and commissions", False, True, 5_000, 100, 200),
        User(14, "no_posts_yet", "No Posts Yet", "just looking", False, False, 90, 150, 0),
        User(15, "spam_bot_9000", "Free Followers", "bot follow4follow promo", False, False, 30, 7_400, 3),
        User(16, "empty_account", "", "", False, False, 0, 0, 0),
    )
}
CATALOG_BY_PK: dict[int, User] = {user.pk: user for user in CATALOG.values()}
A_FOLLOWERS_INVERSE = pow(A_FOLLOWERS, -1, P)
A_FOLLOWINGS_INVERSE = pow(A_FOLLOWINGS, -1, P)


def _mix(x: int) -> int:
    """splitmix64's finaliser: 64 well-mixed bits from any integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _unit(bits: int) -> float:
    """A float in (0, 1] from 53 of ``bits``."""
    return ((bits >> 11) + 1) / float(1 << 53)


def is_virtual(pk: int) -> bool:
    return FIRST_VIRTUAL <= pk < FIRST_VIRTUAL + USERS


def exists(pk: int) -> bool:
    return pk in CATALOG_BY_PK or is_virtual(pk)


class Graph:
    """The graph of one seed: profiles, followers, followings, posts and feeds, all computed."""

    def __init__(self, seed: int) -> None:
        self.key = _mix(seed * 0x2545F4914F6CDD1D + 7)

    def _hash(self, pk: int, salt: int = 0) -> int:
        return _mix(self.key ^ (pk * 0x9E3779B1 + salt))

    # --- users ---

    def ref(self, pk: int) -> tuple[str, str, bool]:
        """(username, full_name, is_private) of an existing user: what lists show; cheap."""
        known = CATALOG_BY_PK.get(pk)
        if known is not None:
            return known.username, known.full_name, known.is_private
        h = self._hash(pk)
        name = f"{FIRST_NAMES[h % 20]} {LAST_NAMES[(h >> 5) % 16]}" if h >> 60 else ""
        return f"user{pk}", name, (h >> 9) % 100 < 10

    def user(self, pk: int) -> User:
        """The profile of an existing user (see `exists`)."""
        known = CATALOG_BY_PK.get(pk)
        if known is not None:
            return known
        h = self._hash(pk)
        username, full_name, private = self.ref(pk)
        h2, h3, h4 = self._hash(pk, 1), self._hash(pk, 2), self._hash(pk, 3)
        followers = min(MAX_FOLLOWERS, int(150 * (1 / _unit(h2) - 1)))
        followings = min(MAX_FOLLOWINGS, int(MAX_FOLLOWINGS * _unit(h3) ** 2.5))
        media = int(MAX_MEDIA * _unit(h4) ** 2)
        words = [BIO_WORDS[(h4 >> (8 * n)) % len(BIO_WORDS)] for n in range(1, 1 + (h4 >> 60) % 4)]
        business = (h >> 16) % 100 < 8
        return User(pk, username, full_name, " ".join(words), private, business, followers, followings, media)

    # --- followers and followings: O(1) per item, O(1) membership ---

    def _offset(self, pk: int, salt: int) -> int:
        return self._hash(pk, salt) % P

    @staticmethod
    def _pk_at(position: int, owner: int) -> int:
        """The pk at `position` of the id space without `owner` (a user never lists itself)."""
        pk = FIRST_VIRTUAL + position
        return pk + 1 if is_virtual(owner) and pk >= owner else pk

    @staticmethod
    def _position_of(pk: int, owner: int) -> int | None:
        if not is_virtual(pk) or pk == owner:
            return None
        position = pk - FIRST_VIRTUAL
        return position - 1 if is_virtual(owner) and pk > owner else position

    def follower(self, owner: int, index: int) -> int:
        """The pk of follower `index` of `owner` (index < its virtual follower count)."""
        return self._pk_at((A_FOLLOWERS * index + self._offset(owner, 11)) % P, owner)

    def following(self, owner: int, index: int) -> int:
        return self._pk_at((A_FOLLOWINGS * index + self._offset(owner, 12)) % P, owner)

    def follows_virtually(self, follower: int, owner: int) -> bool:
        """Whether `follower` is among `owner`'s virtual followers."""
        position = self._position_of(follower, owner)
        if position is None:
            return False
        index = A_FOLLOWERS_INVERSE * (position - self._offset(owner, 11)) % P
        return index < self.user(owner).followers

    def followed_virtually(self, followee: int, owner: int) -> bool:
        """Whether `followee` is among `owner`'s virtual followings."""
        position = self._position_of(followee, owner)
        if position is None:
            return False
        index = A_FOLLOWINGS_INVERSE * (position - self._offset(owner, 12)) % P
        return index < self.user(owner).followings

    def follows_back(self, pk: int) -> bool:
        """Whether `pk` follows back whoever follows it (a fixed fifth of the public virtual users)."""
        return is_virtual(pk) and not self.ref(pk)[2] and self._hash(pk, 13) % 100 < FOLLOW_BACK_PERCENT

    def outsider(self, owner: int, n: int) -> int:
        """A virtual user, the `n`-th try, who may or may not follow `owner` (callers check)."""
        return FIRST_VIRTUAL + self._hash(owner, 1_000_003 + n) % USERS

    # --- posts ---

    def post(self, pk: int, k: int, today: float) -> dict[str, object]:
        """Post `k` of user `pk` (``k < media``): its fields without the author and ``has_liked``."""
        h = self._hash(pk * 1_000 + k, 21)
        gap = DAY * (1 + self._hash(pk, 22) % 5)
        taken_at = int(today - self._hash(pk, 23) % (2 * DAY) - (self.user(pk).media - 1 - k) * gap)
        tags = [HASHTAGS[(h >> (4 * n)) % len(HASHTAGS)] for n in range(h >> 62)]
        words = [CAPTION_WORDS[(h >> (8 + 4 * n)) % len(CAPTION_WORDS)] for n in range(1 + (h >> 58) % 4)]
        location = LOCATIONS[(h >> 40) % len(LOCATIONS)] if (h >> 32) % 10 < 3 else None
        text = " ".join(words + [f"#{tag}" for tag in dict.fromkeys(tags)])
        caption = None if (h >> 48) % 10 == 0 else text
        return _media_fields(f"{pk}_{k}", taken_at, int(40 * (1 / _unit(h) - 1)) % 50_000, caption, location)

    def feed_author(self, feed: int, slot: int) -> int:
        """The author of a feed's post in `slot`: a public virtual user with posts (a few tries)."""
        author = FIRST_VIRTUAL
        for attempt in range(8):
            author = FIRST_VIRTUAL + self._hash(slot * FEEDS + feed, 31 + attempt) % USERS
            if self.user(author).media > 0 and not self.ref(author)[2]:
                break
        return author

    def feed_post(self, feed: int, slot: int) -> tuple[int, dict[str, object]]:
        """(author pk, fields) of a hashtag's or location's post in `slot`."""
        author = self.feed_author(feed, slot)
        h = self._hash(slot * FEEDS + feed, 32)
        words = [CAPTION_WORDS[(h >> (4 * n)) % len(CAPTION_WORDS)] for n in range(1 + (h >> 60) % 3)]
        if feed < len(HASHTAGS):
            caption, location = " ".join([*words, f"#{HASHTAGS[feed]}"]), None
        else:
            caption, location = " ".join(words), LOCATIONS[feed - len(HASHTAGS)]
        media_id = f"{author}_{FEED_BASE + slot * FEEDS + feed}"
        like_count = int(10 * (1 / _unit(h) - 1)) % 5_000
        return author, _media_fields(media_id, slot * feed_interval(feed), like_count, caption, location)

    def media(self, media_id: str, now: float) -> tuple[int, dict[str, object]] | None:
        """(author pk, fields) of the post `media_id`, or None when there is none."""
        pk_text, _, k_text = media_id.partition("_")
        if (
            not (pk_text.isascii() and k_text.isascii() and pk_text.isdigit() and k_text.isdigit())
            or len(pk_text) > 12
            or len(k_text) > 15
        ):
            return None
        pk, k = int(pk_text), int(k_text)
        if not exists(pk):
            return None
        if k < FEED_BASE:
            return (pk, self.post(pk, k, today(now))) if k < self.user(pk).media else None
        slot, feed = divmod(k - FEED_BASE, FEEDS)
        if slot > current_slot(feed, now) or self.feed_author(feed, slot) != pk:
            return None
        return self.feed_post(feed, slot)


def _media_fields(
    media_id: str, taken_at: int, like_count: int, caption: str | None, location: Location | None
) -> dict[str, object]:
    return {
        "id": media_id,
        "pk": media_id.partition("_")[2],
        "taken_at": taken_at,
        "like_count": like_count,
        "caption": None if caption is None else {"text": caption},
        "location": None if location is None else {"pk": location.pk, "name": location.name},
    }


def feed_interval(feed: int) -> int:
    """Seconds between two posts of a feed: 5 for the busiest, up to 60."""
    return (5, 10, 20, 30, 45, 60)[feed % 6]


def current_slot(feed: int, now: float) -> int:
    return math.floor(now / feed_interval(feed))


def today(now: float) -> float:
    """Midnight UTC of `now`'s day, as a timestamp: user posts are laid out before it."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def feed_of_tag(tag: str) -> int | None:
    try:
        return HASHTAGS.index(tag)
    except ValueError:
        return None


def feed_of_location(location_pk: int) -> int | None:
    location = LOCATIONS_BY_PK.get(location_pk)
    return None if location is None else len(HASHTAGS) + LOCATIONS.index(location)


@lru_cache(maxsize=8)
def graph(seed: int) -> Graph:
    return Graph(seed)


def now() -> float:
    return time.time()
