"""Reading the fields of a platform's JSON answer: ids, texts, counts, times, topics.

Each reader raises ValueError saying what is wrong, so the item is reported as malformed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.counts import fans_level, parse_count
from rules.briefs import Article

JsonObject = dict[str, Any]


LINE_BREAK = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)


TAG = re.compile(r"<[^>]*>")


WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"


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
    if "<" not in value and "&" not in value:  # no tag, no reference: most texts
        return value.strip()
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
