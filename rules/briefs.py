"""The rules of briefs as plain functions: what a valid brief is. No Prefect and no database here."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from core.settings import PLATFORMS

MAX_KEYWORD_LENGTH = 30
# Hashtags: "#话题#" (weibo), which may hold spaces inside ("#New York#") but not at its ends, then
# "#话题" ended by a space or the end (xiaohongshu, douyin: "#旅行日记 #咖啡").
PAIRED_HASHTAG_RE = re.compile(r"#([^#\s](?:[^#\n]{0,58}[^#\s])?)#")
OPEN_HASHTAG_RE = re.compile(r"#([^#\s]{1,60})(?=\s|$)")


class Stage(StrEnum):
    """The two stages of a brief, each claimed by one run at a time."""

    COLLECT = "collect"
    ANALYSE = "analyse"


@dataclass(frozen=True)
class BriefSpec:
    """A validated brief: keywords and platforms in order without duplicates, an optional UTC range."""

    keywords: tuple[str, ...]
    platforms: tuple[str, ...]
    since: datetime | None
    until: datetime | None


def clean_keyword(raw: str) -> str:
    """A keyword in NFC with its surrounding and repeated whitespace removed; refuses empty or long ones."""
    keyword = " ".join(unicodedata.normalize("NFC", raw).split())
    if not keyword:
        raise ValueError("a keyword is empty")
    if len(keyword) > MAX_KEYWORD_LENGTH:
        raise ValueError(f"keyword {keyword[:40]!r} is longer than {MAX_KEYWORD_LENGTH} characters")
    if any(unicodedata.category(char).startswith("C") for char in keyword):
        raise ValueError(f"keyword {keyword!r} contains control characters")
    return keyword


def split_keywords(text: str) -> list[str]:
    """Keywords from a form field: one per line or separated by commas (ASCII or Chinese)."""
    for separator in (",", "，", "、", ";", "；"):
        text = text.replace(separator, "\n")
    return [part for part in (line.strip() for line in text.splitlines()) if part]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a timezone offset, e.g. 2026-11-24T09:00:00+08:00")
    return value.astimezone(UTC)


def validate_brief(
    keywords: Iterable[str],
    platforms: Iterable[str] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    max_keywords: int,
) -> BriefSpec:
    """A `BriefSpec`, or ValueError saying what is wrong. No platforms given means all five."""
    cleaned = _unique(clean_keyword(keyword) for keyword in keywords)
    if not cleaned:
        raise ValueError("give at least one keyword")
    if len(cleaned) > max_keywords:
        raise ValueError(f"{len(cleaned)} keywords given; at most {max_keywords} per brief")
    chosen = PLATFORMS if platforms is None else _unique(platform.strip().lower() for platform in platforms)
    unknown = [platform for platform in chosen if platform not in PLATFORMS]
    if unknown:
        raise ValueError(f"unknown platform {unknown[0]!r}: choose from {', '.join(PLATFORMS)}")
    if not chosen:
        raise ValueError("choose at least one platform")
    start, end = _utc(since, "since"), _utc(until, "until")
    if start is not None and end is not None and end <= start:
        raise ValueError("the time range ends before it starts")
    return BriefSpec(keywords=cleaned, platforms=chosen, since=start, until=end)


@dataclass(frozen=True)
class Article:
    """One article in the fields every platform maps to (counts already normalised to integers)."""

    platform: str
    external_id: str
    url: str
    title: str
    content: str
    post_time: datetime | None  # timezone-aware, UTC
    like: int = 0
    read: int = 0
    share: int = 0
    comment: int = 0
    collect: int = 0
    play: int = 0
    danmu: int = 0
    download: int = 0
    interaction: int = 0  # as the platform gives it, else like + share + comment + collect + danmu
    user_id: str = ""
    user_name: str = ""
    user_fans: int = 0
    user_fans_level: str = ""
    topics: tuple[str, ...] = ()  # hashtags / topics, without the # marks
    keyword: str = ""  # the brief keyword the article was found for (set by the collecting task)


@dataclass(frozen=True)
class ShortSearch:
    """A search of a brief that came up short: partial (some pages could not be had) or failed."""

    platform: str
    keyword: str
    status: str
    pages: int
    articles: int
    reason: str
