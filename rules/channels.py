"""The rules of channels (microblog brand accounts) as plain records and functions: which timeline
posts a channel reposts, when its scheduled posts go out, and the states a post moves through.

No Prefect, no database and no HTTP here. The public API (import it from this module):

Text (in rules/channels_text.py, whose docstring gives the exact counting rules):
    ``weighted_length(text) -> int``, ``fits(text) -> bool`` (at most 280 weighted),
    ``hashtags_of(text) -> list[str]``, ``urls_of(text) -> list[str]``,
    ``HashtagRule``, ``HashtagPosition``, ``HashtagResult``,
    ``apply_hashtags(text, rule, rng=None) -> HashtagResult``.
Reposts:
    ``RepostRule`` (validated pydantic), ``TimelinePost``, ``Verdict``, ``Outcome``, ``KeywordMode``,
    ``LANGUAGES`` (ISO 639-1), ``judge(post, rule) -> Verdict``, ``judge_all(post, rules) -> Verdict``,
    ``judge_for_channel(post, rules, channel_user_id, now, give_up_after) -> Verdict`` (a channel never
    reposts its own posts; a post still "not yet" after ``give_up_after`` is ``never``).
    A post's language is compared by its primary subtag ("zh-cn" is "zh"; "und" or None match no
    language list). Users are given as usernames (with or without "@", any case) or user ids, and
    match either. ``max_hashtags`` counts ``post.hashtags``, or the text's hashtags when that is empty.
    A rule's required keywords match by ``keyword_mode``: ``any`` (the default: one of them suffices)
    or ``all``. Keywords match case-insensitively as whole words (a keyword with CJK at an edge
    matches inside a longer CJK run, those scripts have no spaces); ``#crypto`` holds ``crypto``.
    ``min_likes`` and ``min_reposts`` refuse for good (``never``); ``wait_for_likes`` says
    ``not_yet`` until the post has that many likes: check it again later. The rules of a channel are
    or-ed: a post is reposted if any rule says repost.
Schedule (in rules/channels_schedule.py):
    ``check_slots(slots) -> tuple[time, ...]``, ``check_due(due, now) -> datetime``,
    ``next_free_slot(slots, timezone, taken, after) -> datetime``, ``check_timezone`` (core.timezones).
    ``check_due`` refuses a due time before ``now`` ("… is in the past"); ``next_free_slot`` returns
    an aware UTC instant strictly after ``after`` and compares ``taken`` as instants (any zone).
    Slots are local wall times in the channel's IANA time zone. On a day the clocks go forward, a
    slot inside the gap is read with the offset from before the change, so it falls the gap's length
    later (02:30 in Europe/Berlin on the last Sunday of March is 03:30 CEST); two slots that land on
    the same instant are one. On a day the clocks go back, a slot in the repeated hour happens once,
    at its first occurrence (fold 0).
Post states (in rules/channels_schedule.py):
    ``PostState``, ``TRANSITIONS`` (the allowed moves as data), ``BY_PERSON`` (the moves only a
    person makes, such as retrying an errored post: error → queued), ``can_move(from, to) -> bool``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.timezones import check_timezone
from rules.channels_schedule import (
    BY_PERSON,
    TRANSITIONS,
    PostState,
    can_move,
    check_due,
    check_slots,
    next_free_slot,
)
from rules.channels_text import (
    MAX_WEIGHTED_LENGTH,
    HashtagPosition,
    HashtagResult,
    HashtagRule,
    apply_hashtags,
    fits,
    hashtags_of,
    urls_of,
    weighted_length,
)

__all__ = [
    "BY_PERSON",
    "LANGUAGES",
    "MAX_WEIGHTED_LENGTH",
    "TRANSITIONS",
    "HashtagPosition",
    "HashtagResult",
    "HashtagRule",
    "KeywordMode",
    "Outcome",
    "PostState",
    "RepostRule",
    "TimelinePost",
    "Verdict",
    "apply_hashtags",
    "can_move",
    "check_due",
    "check_slots",
    "check_timezone",
    "fits",
    "hashtags_of",
    "judge",
    "judge_all",
    "judge_for_channel",
    "next_free_slot",
    "urls_of",
    "weighted_length",
]

# ISO 639-1, the two-letter codes a post's language is given in
_LANGUAGE_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de "
    "dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia "
    "id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo "
    "lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl "
    "ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk "
    "tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"
)
LANGUAGES = frozenset(_LANGUAGE_CODES.split())
_USER = regex.compile(r"@?([A-Za-z0-9_]{1,15}|[0-9]{1,20})")
_WORD = r"[\p{L}\p{M}\p{N}_]"
_NO_SPACES = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]")


class KeywordMode(StrEnum):
    ANY = "any"  # one of the required keywords is enough
    ALL = "all"  # every required keyword must be there


class Outcome(StrEnum):
    REPOST = "repost"
    NOT_YET = "not_yet"  # may pass later (not enough likes yet): judge it again
    NEVER = "never"


@dataclass(frozen=True)
class TimelinePost:
    """A post of the channel's home timeline, as the connector maps it."""

    post_id: str
    author_id: str
    author_username: str
    text: str
    language: str | None  # as the platform detected it ("en", "und", "zh-cn"…), None if it did not
    created_at: datetime
    like_count: int = 0
    repost_count: int = 0
    is_reply: bool = False
    is_repost: bool = False
    hashtags: tuple[str, ...] = ()  # as the platform gave them; if empty, read from the text

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError(f"post {self.post_id}: created_at must be timezone-aware")
        if self.like_count < 0 or self.repost_count < 0:
            raise ValueError(f"post {self.post_id}: negative like or repost count")


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    rule_no: int | None = None  # which of a channel's rules (1-based) decided, in judge_all


def _words(value: object) -> object:
    if isinstance(value, str):
        value = value.replace("\n", ",").split(",")
    if isinstance(value, list | tuple):
        return tuple(dict.fromkeys(str(word).strip().casefold() for word in value if str(word).strip()))
    return value


class RepostRule(BaseModel):
    """Which timeline posts a channel reposts. An empty list or a bound of None is off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    languages: tuple[str, ...] = Field((), description="ISO 639-1 codes; empty: any language")
    keywords: tuple[str, ...] = Field((), description="required words (see keyword_mode)")
    keyword_mode: KeywordMode = KeywordMode.ANY
    refused_keywords: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = Field((), description="usernames or user ids; if set, only them")
    refused_users: tuple[str, ...] = Field((), description="usernames or user ids")
    min_likes: int = Field(0, ge=0)
    min_reposts: int = Field(0, ge=0)
    max_hashtags: int | None = Field(None, ge=0)
    no_replies: bool = True
    no_reposts_of_reposts: bool = True
    wait_for_likes: int | None = Field(None, ge=1, description="repost once the post has this many likes")

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: object) -> object:
        value = _words(value)
        if isinstance(value, tuple):
            for code in value:
                if code not in LANGUAGES:
                    raise ValueError(f"unknown language {code!r}: use an ISO 639-1 code such as 'en'")
        return value

    @field_validator("keywords", "refused_keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> object:
        return _words(value)

    @field_validator("allowed_users", "refused_users", mode="before")
    @classmethod
    def _users(cls, value: object) -> object:
        value = _words(value)
        if isinstance(value, tuple):
            for user in value:
                if not _USER.fullmatch(user):
                    raise ValueError(f"not a username or user id: {user!r}")
            return tuple(user.removeprefix("@") for user in value)
        return value


def _has_keyword(text: str, keyword: str) -> bool:
    before = "" if _NO_SPACES.match(keyword[0]) else f"(?<!{_WORD})"
    after = "" if _NO_SPACES.match(keyword[-1]) else f"(?!{_WORD})"
    return regex.search(f"{before}{regex.escape(keyword)}{after}", text) is not None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def judge(post: TimelinePost, rule: RepostRule) -> Verdict:
    """Whether ``rule`` reposts ``post`` now, later (``not_yet``) or never, and why."""
    author = {post.author_id, post.author_username.casefold()}
    text = post.text.casefold()
    language = (post.language or "").casefold().split("-")[0]
    checks: list[tuple[bool, str]] = [
        (rule.no_replies and post.is_reply, "a reply"),
        (rule.no_reposts_of_reposts and post.is_repost, "a repost of a repost"),
        (
            bool(rule.languages) and language not in rule.languages,
            f"language {post.language or 'unknown'!r}, not one of {', '.join(rule.languages)}",
        ),
        (bool(author & set(rule.refused_users)), f"author @{post.author_username} is refused"),
        (
            bool(rule.allowed_users) and not author & set(rule.allowed_users),
            f"author @{post.author_username} is not among the allowed users",
        ),
    ]
    for failed, reason in checks:
        if failed:
            return Verdict(Outcome.NEVER, reason)
    for word in rule.refused_keywords:
        if _has_keyword(text, word):
            return Verdict(Outcome.NEVER, f"refused keyword {word!r}")
    if rule.keywords:
        missing = [word for word in rule.keywords if not _has_keyword(text, word)]
        if rule.keyword_mode == KeywordMode.ALL and missing:
            return Verdict(Outcome.NEVER, f"missing required keyword {missing[0]!r}")
        if rule.keyword_mode == KeywordMode.ANY and len(missing) == len(rule.keywords):
            wanted = ", ".join(repr(word) for word in rule.keywords)
            return Verdict(Outcome.NEVER, f"none of the required keywords ({wanted})")
    tags = post.hashtags or tuple(hashtags_of(post.text))
    if rule.max_hashtags is not None and len(tags) > rule.max_hashtags:
        hashtags = _plural(len(tags), "hashtag")
        return Verdict(Outcome.NEVER, f"{hashtags}, at most {rule.max_hashtags}")
    if post.like_count < rule.min_likes:
        return Verdict(Outcome.NEVER, f"only {_plural(post.like_count, 'like')}, at least {rule.min_likes}")
    if post.repost_count < rule.min_reposts:
        reposts = _plural(post.repost_count, "repost")
        return Verdict(Outcome.NEVER, f"only {reposts}, at least {rule.min_reposts}")
    if rule.wait_for_likes is not None:
        if post.like_count < rule.wait_for_likes:
            likes = _plural(post.like_count, "like")
            return Verdict(Outcome.NOT_YET, f"only {likes}, waits for {rule.wait_for_likes}")
        return Verdict(Outcome.REPOST, f"reached {rule.wait_for_likes} likes")
    return Verdict(Outcome.REPOST, "passes every filter")


def judge_all(post: TimelinePost, rules: Sequence[RepostRule]) -> Verdict:
    """The first rule that reposts ``post``; else the first that says ``not_yet``; else ``never``
    with every rule's reason ("rule 1: a reply; rule 2: …")."""
    verdicts = [judge(post, rule) for rule in rules]
    for outcome in (Outcome.REPOST, Outcome.NOT_YET):
        for number, verdict in enumerate(verdicts, 1):
            if verdict.outcome == outcome:
                return Verdict(outcome, verdict.reason, number)
    if not verdicts:
        return Verdict(Outcome.NEVER, "the channel has no repost rules")
    reasons = "; ".join(f"rule {number}: {verdict.reason}" for number, verdict in enumerate(verdicts, 1))
    return Verdict(Outcome.NEVER, reasons if len(verdicts) > 1 else verdicts[0].reason, None)


def judge_for_channel(
    post: TimelinePost,
    rules: Sequence[RepostRule],
    channel_user_id: str,
    now: datetime | None = None,
    give_up_after: timedelta | None = None,
) -> Verdict:
    """`judge_all` for one channel's home timeline: its own posts (and its own reposts) are never
    reposted, and a post still ``not_yet`` ``give_up_after`` its creation is ``never``."""
    if post.author_id == channel_user_id:
        return Verdict(Outcome.NEVER, "the channel's own post")
    verdict = judge_all(post, rules)
    too_old = now is not None and give_up_after is not None and now - post.created_at > give_up_after
    if verdict.outcome is Outcome.NOT_YET and too_old:
        hours = round(give_up_after.total_seconds() / 3600, 1)  # type: ignore[union-attr]
        return Verdict(Outcome.NEVER, f"{verdict.reason}; given up after {hours:g} h", verdict.rule_no)
    return verdict
